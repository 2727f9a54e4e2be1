//! 200 port activations due at once, on PostgreSQL, in a test binary of their own. See `tests/apart/activations.rs`.

#[path = "apart/activations.rs"]
mod activations;
#[path = "it/common.rs"]
mod common;
#[path = "it/daemon_support.rs"]
#[allow(dead_code)]
mod daemon_support;

#[tokio::test]
async fn two_hundred_activations_due_at_once_finish_within_twice_one_alone_on_postgres() {
    let Some(db) = btw::store::postgres::testing::TestDb::create() else {
        return;
    };
    activations::activations_at_once(Some(&db.url)).await;
}
