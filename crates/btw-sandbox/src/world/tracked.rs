//! A map of world entries that knows which keys changed since the store last took its changes
//! (so a save writes those and nothing else), and keeps lookup indexes over its values current as
//! they change (so the domain's checks look entries up instead of scanning the whole history).
//!
//! Reads go through `Deref` to the `BTreeMap`; every write goes through a method here, so no
//! change can bypass the bookkeeping (a `&mut` to a value comes as a [`Slot`], which re-indexes
//! its entry when dropped).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::ops::{Deref, DerefMut};

/// One lookup key of an entry: which index (per map type), and the normalised value.
pub type IndexKey = (u8, String);

/// What a map's values can be looked up by besides their key.
pub trait Indexed {
    /// Pushes this entry's lookup keys onto `out` (none by default).
    fn index_keys(&self, _out: &mut Vec<IndexKey>) {}
}

/// Lookup key → the map keys of the entries that have it, and the reverse, to drop an entry's
/// old lookup keys when it changes.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Ordered, so an index whose values sort like what they stand for (instants) takes ranges.
    by_value: BTreeMap<IndexKey, BTreeSet<String>>,
    of_entry: HashMap<String, Vec<IndexKey>>,
}

impl Index {
    fn update<V: Indexed>(&mut self, key: &str, value: Option<&V>) {
        let mut keys = Vec::new();
        if let Some(v) = value {
            v.index_keys(&mut keys);
            keys.sort();
            keys.dedup();
        }
        if self.of_entry.get(key).map(Vec::as_slice) == Some(keys.as_slice()) {
            return;
        }
        for old in self.of_entry.remove(key).unwrap_or_default() {
            if let Some(set) = self.by_value.get_mut(&old) {
                set.remove(key);
                if set.is_empty() {
                    self.by_value.remove(&old);
                }
            }
        }
        if keys.is_empty() {
            return;
        }
        for k in &keys {
            self.by_value
                .entry(k.clone())
                .or_default()
                .insert(key.to_string());
        }
        self.of_entry.insert(key.to_string(), keys);
    }
}

/// The entries changed since the store last took them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changed {
    /// The whole map is new (a reset or a migration): the saved rows are all to be replaced.
    pub replaced: bool,
    /// Keys inserted, changed or removed.
    pub keys: BTreeSet<String>,
}

/// A `BTreeMap<String, V>` with change tracking and lookup indexes.
#[derive(Debug, Clone)]
pub struct Tracked<V> {
    map: BTreeMap<String, V>,
    changed: Changed,
    index: Index,
}

impl<V: Indexed> Default for Tracked<V> {
    fn default() -> Self {
        Tracked {
            map: BTreeMap::new(),
            changed: Changed::default(),
            index: Index::default(),
        }
    }
}

impl<V: Indexed> Tracked<V> {
    /// A map as it is on disk: nothing to save.
    pub fn saved(map: BTreeMap<String, V>) -> Self {
        let mut index = Index::default();
        for (k, v) in &map {
            index.update(k, Some(v));
        }
        Tracked {
            map,
            changed: Changed::default(),
            index,
        }
    }

    /// A map that replaces whatever was saved (a seeded world).
    pub fn replacing(map: BTreeMap<String, V>) -> Self {
        let mut t = Self::saved(map);
        t.changed.replaced = true;
        t
    }

    /// A value to change in place; the entry is marked changed and re-indexed after.
    pub fn get_mut(&mut self, key: &str) -> Option<Slot<'_, V>> {
        let value = self.map.get_mut(key)?;
        self.changed.keys.insert(key.to_string());
        Some(Slot {
            value,
            key: key.to_string(),
            index: &mut self.index,
        })
    }

    /// The value at `key`, inserting `make()` first when there is none.
    pub fn get_or_insert_with(&mut self, key: String, make: impl FnOnce() -> V) -> Slot<'_, V> {
        self.changed.keys.insert(key.clone());
        let value = self.map.entry(key.clone()).or_insert_with(make);
        Slot {
            value,
            key,
            index: &mut self.index,
        }
    }

    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        self.index.update(&key, Some(&value));
        self.changed.keys.insert(key.clone());
        self.map.insert(key, value)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let old = self.map.remove(key)?;
        self.index.update::<V>(key, None);
        self.changed.keys.insert(key.to_string());
        Some(old)
    }

    /// The entries with lookup key `(index, value)`, in key order.
    pub fn find<'a>(&'a self, index: u8, value: &str) -> impl Iterator<Item = &'a V> + 'a {
        self.index
            .by_value
            .get(&(index, value.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|k| self.map.get(k))
    }

    /// The entries of `index` with a value from `from` to `to` (both included), in value order.
    pub fn find_range<'a>(
        &'a self,
        index: u8,
        from: &str,
        to: &str,
    ) -> impl Iterator<Item = &'a V> + 'a {
        let bounds = (
            Bound::Included((index, from.to_string())),
            Bound::Included((index, to.to_string())),
        );
        let valid = from <= to;
        self.index
            .by_value
            .range(bounds)
            .take_while(move |_| valid)
            .flat_map(|(_, keys)| keys.iter())
            .filter_map(|k| self.map.get(k))
    }

    /// The first value of `index` at or after `from`, if any.
    pub fn first_value_from(&self, index: u8, from: &str) -> Option<&str> {
        self.index
            .by_value
            .range((index, from.to_string())..)
            .next()
            .filter(|((i, _), _)| *i == index)
            .map(|((_, v), _)| v.as_str())
    }

    /// The keys of the entries with lookup key `(index, value)`, in order.
    pub fn find_keys(&self, index: u8, value: &str) -> Vec<String> {
        self.index
            .by_value
            .get(&(index, value.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the entry at `key` has lookup key `(index, value)`.
    pub fn entry_has(&self, key: &str, index: u8, value: &str) -> bool {
        self.index
            .of_entry
            .get(key)
            .is_some_and(|keys| keys.iter().any(|(i, v)| *i == index && v == value))
    }

    /// What changed since the last call, forgetting it.
    pub fn take_changed(&mut self) -> Changed {
        std::mem::take(&mut self.changed)
    }

    /// Marks `changed` as not saved after all (a save that failed), on top of what changed since.
    pub fn restore_changed(&mut self, changed: Changed) {
        self.changed.replaced |= changed.replaced;
        self.changed.keys.extend(changed.keys);
    }

    /// Marks every entry to be written afresh (a world migrated from another form).
    pub fn mark_replaced(&mut self) {
        self.changed.replaced = true;
    }

    /// Whether something is waiting to be saved.
    pub fn has_changes(&self) -> bool {
        self.changed.replaced || !self.changed.keys.is_empty()
    }
}

impl<V> Deref for Tracked<V> {
    type Target = BTreeMap<String, V>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<V: Serialize> Serialize for Tracked<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, V: Deserialize<'de> + Indexed> Deserialize<'de> for Tracked<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(Tracked::saved)
    }
}

/// A value of a [`Tracked`] map borrowed for change; re-indexed when dropped.
pub struct Slot<'a, V: Indexed> {
    value: &'a mut V,
    key: String,
    index: &'a mut Index,
}

impl<V: Indexed> Deref for Slot<'_, V> {
    type Target = V;

    fn deref(&self) -> &V {
        self.value
    }
}

impl<V: Indexed> DerefMut for Slot<'_, V> {
    fn deref_mut(&mut self) -> &mut V {
        self.value
    }
}

impl<V: Indexed> Drop for Slot<'_, V> {
    fn drop(&mut self) {
        self.index.update(&self.key, Some(&*self.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Thing {
        name: String,
    }

    impl Indexed for Thing {
        fn index_keys(&self, out: &mut Vec<IndexKey>) {
            out.push((0, self.name.to_lowercase()));
        }
    }

    fn thing(name: &str) -> Thing {
        Thing { name: name.into() }
    }

    #[test]
    fn changes_are_tracked_and_taken() {
        let mut t: Tracked<Thing> = Tracked::saved(BTreeMap::from([("a".into(), thing("A"))]));
        assert!(!t.has_changes());
        t.insert("b".into(), thing("B"));
        if let Some(mut s) = t.get_mut("a") {
            s.name = "A2".into();
        }
        assert!(t.get_mut("zz").is_none());
        let changed = t.take_changed();
        assert_eq!(
            changed.keys.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(!t.has_changes());
        t.remove("b");
        t.restore_changed(changed);
        assert_eq!(t.take_changed().keys.len(), 2);
    }

    #[test]
    fn the_index_follows_inserts_changes_and_removals() {
        let mut t: Tracked<Thing> = Tracked::default();
        t.insert("1".into(), thing("Acme"));
        t.insert("2".into(), thing("acme"));
        assert_eq!(t.find_keys(0, "acme"), ["1", "2"]);
        if let Some(mut s) = t.get_mut("1") {
            s.name = "Beta".into();
        }
        assert_eq!(t.find_keys(0, "acme"), ["2"]);
        assert_eq!(t.find(0, "beta").next(), Some(&thing("Beta")));
        t.remove("2");
        assert!(t.find_keys(0, "acme").is_empty());
        t.get_or_insert_with("3".into(), || thing("Gamma"));
        let json = serde_json::to_string(&t).unwrap();
        let back: Tracked<Thing> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.find_keys(0, "gamma"), ["3"]);
        assert!(!back.has_changes());
    }
}
