//! What one save writes, taken from the world under its lock: the entries of the tracked maps
//! that changed (serialised here, so the lock is held for the changes only), the journal entries
//! not yet saved, the clocks, and the rest of the world (small: counters, outbox, settings).

use crate::world::tracked::{Changed, Tracked};
use crate::world::{Address, Counters, World};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// The world minus the clock, the tracked maps and the journals: one row, rewritten when its
/// bytes change. The field names are the world's, so the row reads back into a `World`.
#[derive(Serialize)]
struct Core<'a> {
    addresses: &'a Vec<Address>,
    counters: &'a Counters,
    outbox: &'a Vec<crate::world::outbox::Notification>,
    ports: &'a crate::world::port::Ports,
    notify: &'a crate::world::outbox::NotifyState,
    ethernet: &'a crate::world::ethernet::EthernetWorld,
    quarantine: &'a BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    quarantine_clocks: &'a BTreeMap<String, String>,
}

/// The changed entries of one map: `None` for a removed one.
pub struct PartChanges {
    pub part: &'static str,
    pub replaced: bool,
    pub rows: Vec<(String, Option<Vec<u8>>)>,
    changed: Changed,
}

/// Journal entries to append, and how many the journal holds now (older rows go).
pub struct LogChanges {
    pub part: &'static str,
    pub append: Vec<Vec<u8>>,
    pub len: usize,
}

/// Everything one save writes.
pub struct Changes {
    pub clock: Vec<u8>,
    /// The run clocks (few, and their last use changes with every request): written with the
    /// shared clock at every save.
    pub clocks: Vec<u8>,
    pub core: Vec<u8>,
    pub parts: Vec<PartChanges>,
    pub logs: Vec<LogChanges>,
}

fn part<V: Serialize + crate::world::tracked::Indexed>(
    name: &'static str,
    map: &mut Tracked<V>,
) -> PartChanges {
    let changed = map.take_changed();
    PartChanges {
        part: name,
        replaced: changed.replaced,
        rows: Vec::new(),
        changed,
    }
}

fn fill<V: Serialize>(p: &mut PartChanges, map: &BTreeMap<String, V>) -> serde_json::Result<()> {
    if p.replaced {
        for (k, v) in map {
            p.rows.push((k.clone(), Some(serde_json::to_vec(v)?)));
        }
    } else {
        for k in &p.changed.keys {
            let value = map.get(k).map(serde_json::to_vec).transpose()?;
            p.rows.push((k.clone(), value));
        }
    }
    Ok(())
}

fn log<T: Serialize>(
    part: &'static str,
    entries: &VecDeque<T>,
    unsaved: &mut usize,
) -> serde_json::Result<LogChanges> {
    let new = (*unsaved).min(entries.len());
    let append = entries
        .range(entries.len() - new..)
        .map(serde_json::to_vec)
        .collect::<serde_json::Result<_>>()?;
    *unsaved = 0;
    Ok(LogChanges {
        part,
        append,
        len: entries.len(),
    })
}

impl Changes {
    /// Takes what changed since the last take. On an error nothing is taken.
    pub fn take(w: &mut World) -> serde_json::Result<Changes> {
        let mut parts = vec![
            part("orders", &mut w.orders),
            part("companies", &mut w.companies),
            part("numbers", &mut w.numbers),
            part("qualifications", &mut w.qualifications),
        ];
        let unsaved = (w.journal.unsaved_requests, w.journal.unsaved_created);
        match Self::serialise(w, &mut parts) {
            Ok(c) => Ok(c),
            Err(e) => {
                w.journal.unsaved_requests = unsaved.0;
                w.journal.unsaved_created = unsaved.1;
                restore_parts(w, parts);
                Err(e)
            }
        }
    }

    fn serialise(w: &mut World, parts: &mut Vec<PartChanges>) -> serde_json::Result<Changes> {
        fill(&mut parts[0], &w.orders)?;
        fill(&mut parts[1], &w.companies)?;
        fill(&mut parts[2], &w.numbers)?;
        fill(&mut parts[3], &w.qualifications)?;
        let core = serde_json::to_vec(&Core {
            addresses: &w.addresses,
            counters: &w.counters,
            outbox: &w.outbox,
            ports: &w.ports,
            notify: &w.notify,
            ethernet: &w.ethernet,
            quarantine: &w.quarantine,
            quarantine_clocks: &w.quarantine_clocks,
        })?;
        let clock = serde_json::to_vec(&w.clock)?;
        let clocks = serde_json::to_vec(&w.clocks)?;
        let j = &mut w.journal;
        let logs = vec![
            log("requests", &j.requests, &mut j.unsaved_requests)?,
            log("created", &j.created, &mut j.unsaved_created)?,
        ];
        Ok(Changes {
            clock,
            clocks,
            core,
            parts: std::mem::take(parts),
            logs,
        })
    }

    /// Puts back what a failed save took, so the next save writes it.
    pub fn restore(self, w: &mut World) {
        for l in &self.logs {
            let unsaved = match l.part {
                "requests" => &mut w.journal.unsaved_requests,
                _ => &mut w.journal.unsaved_created,
            };
            *unsaved += l.append.len();
        }
        restore_parts(w, self.parts);
    }

    /// Rows this save writes in the maps and journals (the clock and the rest aside).
    pub fn rows(&self) -> usize {
        let parts: usize = self.parts.iter().map(|p| p.rows.len()).sum();
        parts + self.logs.iter().map(|l| l.append.len()).sum::<usize>()
    }
}

fn restore_parts(w: &mut World, parts: Vec<PartChanges>) {
    for p in parts {
        match p.part {
            "orders" => w.orders.restore_changed(p.changed),
            "companies" => w.companies.restore_changed(p.changed),
            "numbers" => w.numbers.restore_changed(p.changed),
            _ => w.qualifications.restore_changed(p.changed),
        }
    }
}

/// Marks the whole world unsaved (a world migrated from the old form, in no row yet).
pub fn mark_all_unsaved(w: &mut World) {
    w.orders.mark_replaced();
    w.companies.mark_replaced();
    w.numbers.mark_replaced();
    w.qualifications.mark_replaced();
    w.journal.unsaved_requests = w.journal.requests.len();
    w.journal.unsaved_created = w.journal.created.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rows_and_the_rest_hold_every_field_of_the_world() {
        let w = World::seed(0.0);
        let full = serde_json::to_value(&w).unwrap();
        let core: serde_json::Value = serde_json::from_slice(
            &serde_json::to_vec(&Core {
                addresses: &w.addresses,
                counters: &w.counters,
                outbox: &w.outbox,
                ports: &w.ports,
                notify: &w.notify,
                ethernet: &w.ethernet,
                quarantine: &w.quarantine,
                quarantine_clocks: &w.quarantine_clocks,
            })
            .unwrap(),
        )
        .unwrap();
        let mut fields: Vec<&str> = core
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let apart = [
            "clock",
            "clocks",
            "orders",
            "companies",
            "numbers",
            "qualifications",
            "journal",
        ];
        fields.extend(apart);
        fields.sort();
        let mut expected: Vec<&str> = full
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        expected.sort();
        assert_eq!(
            fields, expected,
            "a world field is in no row: add it to `Core`"
        );
    }
}
