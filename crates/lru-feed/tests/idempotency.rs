//! The upload flow of the notes: txnId -> jobId, retries get the same job.

use hld_lru_feed::{Begin, Error, IdempotencyCache, Status};

const SEC: u64 = 1_000_000_000;

/// An upload server that makes a job per new transaction.
struct UploadServer {
    seen: IdempotencyCache<String, u64>,
    jobs_created: u64,
}

impl UploadServer {
    fn upload(&mut self, txn: &str, body: &[u8], now: u64) -> Result<Option<u64>, Error> {
        let fingerprint = body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        }); // FNV-1a
        match self.seen.begin(txn.to_string(), fingerprint, now)? {
            Begin::Done(job) => Ok(Some(*job)),
            Begin::InFlight => Ok(None),
            Begin::Started => {
                self.jobs_created += 1;
                let job = 1000 + self.jobs_created;
                self.seen.complete(&txn.to_string(), job, now)?;
                Ok(Some(job))
            }
        }
    }
}

#[test]
fn retries_get_the_same_job_and_conflicts_are_errors() {
    let mut s = UploadServer {
        seen: IdempotencyCache::new(60 * SEC).unwrap(),
        jobs_created: 0,
    };
    let a = s.upload("txn-a", b"cat.jpg", 0).unwrap();
    let b = s.upload("txn-b", b"dog.jpg", SEC).unwrap();
    assert_ne!(a, b);
    for retry in 1..5 {
        assert_eq!(s.upload("txn-a", b"cat.jpg", retry * SEC).unwrap(), a);
    }
    assert_eq!(s.jobs_created, 2);
    assert!(matches!(
        s.upload("txn-a", b"other.jpg", 6 * SEC),
        Err(Error::FingerprintMismatch { .. })
    ));
    // After the TTL the key is forgotten: a retry that late makes a new job.
    assert_eq!(s.seen.expire(61 * SEC), 2);
    assert!(s.seen.is_empty());
    assert_eq!(s.seen.get(&"txn-a".to_string(), 61 * SEC), None);
    let c = s.upload("txn-a", b"cat.jpg", 62 * SEC).unwrap();
    assert_ne!(c, a);
    assert_eq!(
        s.seen.get(&"txn-a".to_string(), 62 * SEC),
        Some(Status::Done(&c.unwrap()))
    );
}
