//! What a limiter answers: allowed or not, and the numbers a server puts in
//! its `RateLimit-*` and `Retry-After` headers.

/// The outcome of one check.
///
/// The fields map onto the IETF `RateLimit` header fields
/// (draft-ietf-httpapi-ratelimit-headers): `limit` is the quota,
/// `remaining` what is left of it, `reset_after_ns` when it is whole again,
/// and `retry_after_ns` the `Retry-After` of a denied request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The most requests that can go ahead at once (the burst, or the
    /// per-window limit of a window limiter).
    pub limit: u64,
    /// How many single requests could go ahead right after this one.
    pub remaining: u64,
    /// When denied: nanoseconds until the same request would be allowed,
    /// if nothing else consumes the quota meanwhile. Zero when allowed.
    pub retry_after_ns: u64,
    /// Nanoseconds until the limiter is back to its full, untouched state
    /// for this caller (zero if it already is).
    pub reset_after_ns: u64,
}

impl Decision {
    /// Whether the request may go ahead (the same as the `allowed` field).
    #[inline]
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// `retry_after_ns` as a [`Duration`](std::time::Duration).
    pub fn retry_after(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.retry_after_ns)
    }

    /// `reset_after_ns` as a [`Duration`](std::time::Duration).
    pub fn reset_after(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.reset_after_ns)
    }
}
