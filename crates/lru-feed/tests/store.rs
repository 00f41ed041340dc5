//! CachedStore: what each write policy sends to the store, and what a crash
//! loses.

use std::collections::HashMap;

use hld_lru_feed::{BackingStore, CachedStore, WritePolicy};

/// A database double that counts writes and can be made to fail.
#[derive(Default)]
struct Db {
    rows: HashMap<u32, String>,
    writes: usize,
    down: bool,
}

#[derive(Debug, PartialEq)]
struct Down;

impl BackingStore<u32, String> for Db {
    type Error = Down;
    fn read(&mut self, key: &u32) -> Result<Option<String>, Down> {
        if self.down {
            return Err(Down);
        }
        Ok(self.rows.get(key).cloned())
    }
    fn write(&mut self, key: &u32, value: &String) -> Result<(), Down> {
        if self.down {
            return Err(Down);
        }
        self.writes += 1;
        self.rows.insert(*key, value.clone());
        Ok(())
    }
    fn delete(&mut self, key: &u32) -> Result<(), Down> {
        if self.down {
            return Err(Down);
        }
        self.rows.remove(key);
        Ok(())
    }
}

fn v(i: u32) -> String {
    format!("value {i}")
}

#[test]
fn write_through_keeps_the_store_current() {
    let mut s = CachedStore::new(Db::default(), 10, WritePolicy::WriteThrough).unwrap();
    for i in 0..50 {
        s.put(i, v(i)).unwrap();
        assert_eq!(s.store().rows.get(&i), Some(&v(i)));
    }
    assert_eq!(s.dirty_len(), 0);
    assert_eq!(s.get(&49).unwrap(), Some(v(49))); // fresh writes are cached
    assert_eq!(s.stats().hits, 1);
    let (db, lost) = s.crash();
    assert_eq!((db.rows.len(), lost), (50, 0));
}

#[test]
fn write_back_loses_nothing_on_flush() {
    let mut s = CachedStore::new(Db::default(), 8, WritePolicy::WriteBack).unwrap();
    for round in 0..3 {
        for i in 0..30 {
            s.put(i, format!("{i} in round {round}")).unwrap();
        }
    }
    // Evictions wrote some rows already; repeated writes of a cached key did not.
    assert!(s.stats().evicted_writes > 0);
    assert!(s.dirty_len() <= 8);
    let flushed = s.flush().unwrap();
    assert_eq!(flushed, 8.min(s.len()));
    assert_eq!(s.dirty_len(), 0);
    for i in 0..30 {
        assert_eq!(s.store().rows[&i], format!("{i} in round 2"));
        assert_eq!(s.get(&i).unwrap(), Some(format!("{i} in round 2")));
    }
    assert_eq!(s.flush().unwrap(), 0);
}

#[test]
fn write_back_crash_before_flush_loses_exactly_the_dirty_entries() {
    let mut s = CachedStore::new(Db::default(), 100, WritePolicy::WriteBack).unwrap();
    for i in 0..10 {
        s.put(i, v(i)).unwrap();
    }
    s.flush().unwrap();
    for i in 5..15 {
        s.put(i, format!("new {i}")).unwrap();
    }
    let dirty = s.dirty_len();
    let (db, lost) = s.crash();
    assert_eq!((dirty, lost), (10, 10));
    // The store has the flushed values, and none of the ten later writes.
    for i in 0..10 {
        assert_eq!(db.rows[&i], v(i));
    }
    for i in 10..15 {
        assert!(!db.rows.contains_key(&i));
    }
}

#[test]
fn write_around_does_not_fill_the_cache() {
    let mut s = CachedStore::new(Db::default(), 10, WritePolicy::WriteAround).unwrap();
    for i in 0..100 {
        s.put(i, v(i)).unwrap();
    }
    assert!(s.is_empty());
    assert_eq!(s.store().writes, 100);
    assert_eq!(s.get(&7).unwrap(), Some(v(7))); // a miss, then cached
    assert_eq!(s.get(&7).unwrap(), Some(v(7)));
    assert_eq!((s.stats().misses, s.stats().hits), (1, 1));
    s.put(7, "changed".into()).unwrap(); // invalidates the cached copy
    assert_eq!(s.len(), 0);
    assert_eq!(s.get(&7).unwrap(), Some("changed".into()));
    assert_eq!(s.policy(), WritePolicy::WriteAround);
}

#[test]
fn a_failing_store_loses_no_write_back_data() {
    let mut s = CachedStore::new(Db::default(), 2, WritePolicy::WriteBack).unwrap();
    s.put(1, v(1)).unwrap();
    s.put(2, v(2)).unwrap();
    s.store_mut().down = true;
    // Evicting a dirty entry cannot write it: the error is reported, the
    // entry kept aside and still readable.
    let mut errors = 0;
    for i in 3..6 {
        if s.put(i, v(i)).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0);
    assert_eq!(s.dirty_len(), 5);
    for i in 1..6 {
        assert_eq!(s.get(&i).ok().flatten(), Some(v(i)), "key {i}");
    }
    assert_eq!(s.flush(), Err(Down));
    s.store_mut().down = false;
    s.flush().unwrap();
    assert_eq!(s.dirty_len(), 0);
    for i in 1..6 {
        assert_eq!(s.store().rows[&i], v(i));
    }
}

#[test]
fn write_through_failure_leaves_cache_unchanged_and_remove_deletes_everywhere() {
    let mut s = CachedStore::new(Db::default(), 10, WritePolicy::WriteThrough).unwrap();
    s.put(1, v(1)).unwrap();
    s.store_mut().down = true;
    assert_eq!(s.put(1, "lost".into()), Err(Down));
    assert_eq!(s.get(&1), Ok(Some(v(1))));
    assert_eq!(s.remove(&1), Err(Down));
    s.store_mut().down = false;
    s.remove(&1).unwrap();
    assert_eq!(s.get(&1), Ok(None));
    assert!(format!("{s:?}").contains("WriteThrough"));
}

#[test]
fn hashmap_is_a_store() {
    let mut s = CachedStore::new(HashMap::new(), 4, WritePolicy::WriteBack).unwrap();
    s.put("k", 1).unwrap();
    assert_eq!(s.get(&"k").unwrap(), Some(1));
    assert_eq!(s.get(&"missing").unwrap(), None);
    s.flush().unwrap();
    assert_eq!(s.store()[&"k"], 1);
    assert!(
        CachedStore::<u8, u8, HashMap<u8, u8>>::new(HashMap::new(), 0, WritePolicy::WriteBack)
            .is_err()
    );
}
