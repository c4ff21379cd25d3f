//! The in-memory caches of the request path (keyring and key metadata, unwrapped data keys,
//! verified API keys) share one implementation, so that none of them takes a process-wide
//! lock on a read, none can be poisoned by a panicking request, and each is bounded.
//!
//! The concurrent cache is `quick_cache` (sharded, lock-free reference bits on hits). It has
//! no per-entry expiry, so each entry carries its deadline and a read past it is a miss;
//! [`TtlCache::sweep`] drops expired entries between requests.

use std::hash::Hash;
use std::time::{Duration, Instant};

/// How many entries one cache holds before it evicts the least useful. Far above what one
/// instance serves in a TTL window; it only keeps a flood of distinct keys from growing the
/// process without bound.
pub const ENTRIES_PER_CACHE: usize = 65_536;

/// The bound of the two caches on the encrypt path (keyring metadata, unwrapped data keys):
/// larger, because an account with 100,000 keyrings used at random must not fall back to the
/// database and the HSM on a third of its requests. With 100,000 keyrings in both caches
/// the whole process's resident memory was 172 MB (bench/keyrings_scale.sh).
pub const KEYRING_ENTRIES: usize = 131_072;

/// A bounded concurrent map whose entries expire after the TTL given when each is stored.
pub struct TtlCache<K, V> {
    entries: quick_cache::sync::Cache<K, Expiring<V>>,
}

#[derive(Clone)]
struct Expiring<V> {
    value: V,
    expires: Instant,
}

impl<K: Eq + Hash, V: Clone> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self::new(ENTRIES_PER_CACHE)
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The value stored under `key`, unless it has expired.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.entries
            .get(key)
            .filter(|entry| entry.expires > Instant::now())
            .map(|entry| entry.value)
    }

    /// Stores `value` under `key` for `ttl`. A zero TTL stores nothing: it would never be
    /// served.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let Some(expires) = Instant::now().checked_add(ttl) else {
            return;
        };
        self.entries.insert(key, Expiring { value, expires });
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.entries.remove(key);
    }

    /// Keeps only the entries for which `keep` holds (an invalidation by a property of the
    /// key or the value, such as every key of one account).
    pub fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        self.entries.retain(|key, entry| keep(key, &entry.value));
    }

    /// Drops the entries that have expired, so they stop holding memory (and secrets).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.entries.retain(|_, entry| entry.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_until_its_ttl_ends() {
        let cache = TtlCache::<String, u32>::new(16);
        cache.insert("a".to_owned(), 1, Duration::from_secs(60));
        cache.insert("b".to_owned(), 2, Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("b"), None);
        cache.sweep();
        assert_eq!(cache.get("a"), Some(1));
    }

    #[test]
    fn a_zero_ttl_stores_nothing() {
        let cache = TtlCache::<u8, u8>::new(16);
        cache.insert(1, 1, Duration::ZERO);
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn invalidation_removes_by_key_and_by_predicate() {
        let cache = TtlCache::<(String, u32), &str>::new(16);
        let ttl = Duration::from_secs(60);
        cache.insert(("ring".to_owned(), 1), "one", ttl);
        cache.insert(("ring".to_owned(), 2), "two", ttl);
        cache.insert(("other".to_owned(), 1), "three", ttl);
        cache.remove(&("ring".to_owned(), 1));
        assert_eq!(cache.get(&("ring".to_owned(), 1)), None);
        cache.retain(|(ring, _), _| ring != "ring");
        assert_eq!(cache.get(&("ring".to_owned(), 2)), None);
        assert_eq!(cache.get(&("other".to_owned(), 1)), Some("three"));
    }
}
