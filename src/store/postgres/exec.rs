//! PostgreSQL's side of the executor (`../exec.rs`): a pooled client, or a transaction on one,
//! runs the shared statements. Each statement waits on the calling thread (see `Pg::block`),
//! so the shared code stays synchronous.

use super::Pg;
use crate::store::exec::{render, Arg, DbErr, Engine, Exec, Row, Val};
use crate::store::StoreError;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::GenericClient;

impl Pg {
    /// Runs `f` on one pooled connection.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, DbErr>,
    ) -> Result<T, StoreError> {
        let run = || {
            let mut pooled = self.wait(self.client())?;
            let client: &mut tokio_postgres::Client = &mut pooled;
            f(&mut PgExec { pg: self, client })
        };
        run().map_err(|e| self.error(e))
    }
}

struct PgExec<'a, C> {
    pg: &'a Pg,
    client: &'a mut C,
}

/// The arguments as the driver takes them: text or 64-bit integers, either possibly NULL.
enum PgArg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

fn with_params<T>(args: &[Arg], f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let held: Vec<PgArg> = args
        .iter()
        .map(|a| match a {
            Arg::Int(n) => PgArg::Int(*n),
            Arg::Text(s) => PgArg::Text(s.as_deref()),
        })
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = held
        .iter()
        .map(|a| match a {
            PgArg::Int(n) => n as &(dyn ToSql + Sync),
            PgArg::Text(s) => s as &(dyn ToSql + Sync),
        })
        .collect();
    f(&refs)
}

fn row(r: &tokio_postgres::Row) -> Result<Row, DbErr> {
    let mut vals = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i).map(|v| v.map(Val::Int))
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|n| Val::Int(n.into())))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|n| Val::Int(n.into())))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i).map(|v| v.map(Val::Bool))
        } else {
            r.try_get::<_, Option<String>>(i).map(|v| v.map(Val::Text))
        };
        let v = v.map_err(|e| DbErr(format!("a stored row cannot be read: column {i}: {e}")))?;
        vals.push(v.unwrap_or(Val::Null));
    }
    Ok(Row(vals))
}

impl<C: GenericClient + Sync> Exec for PgExec<'_, C> {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn query(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, DbErr> {
        let sql = render(sql, Engine::Postgres);
        let rows = with_params(args, |p| self.pg.wait(self.client.query(sql.as_ref(), p)))?;
        rows.iter().map(row).collect()
    }

    fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64, DbErr> {
        let sql = render(sql, Engine::Postgres);
        with_params(args, |p| self.pg.wait(self.client.execute(sql.as_ref(), p)))
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbErr> {
        self.pg.wait(self.client.batch_execute(sql))
    }

    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Exec) -> Result<(), DbErr>,
    ) -> Result<(), DbErr> {
        let pg = self.pg;
        let mut tx = pg.wait(self.client.transaction())?;
        // Dropped on failure: the driver rolls the transaction back.
        f(&mut PgExec {
            pg,
            client: &mut tx,
        })?;
        pg.wait(tx.commit())
    }
}
