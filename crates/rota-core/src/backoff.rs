//! Full-jitter exponential backoff: before retry `n` (0 for the first), a wait drawn uniformly
//! from `[0, min(cap, base · 2ⁿ)]`. The client's retries and the webhook dispatcher use it;
//! each draws from its own random source.

use std::time::Duration;

/// The longest wait before retry `retry`.
pub fn ceiling(base: Duration, cap: Duration, retry: u32) -> Duration {
    base.saturating_mul(2u32.saturating_pow(retry.min(30)))
        .min(cap)
}

/// A wait before retry `retry`: `draw(max)` must answer uniformly in `[0, max]`
/// (microseconds).
pub fn full_jitter(
    base: Duration,
    cap: Duration,
    retry: u32,
    draw: impl FnOnce(u64) -> u64,
) -> Duration {
    let max = u64::try_from(ceiling(base, cap, retry).as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(draw(max).min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_from_base_up_to_cap() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(1));
        let ceilings: Vec<u128> = (0..6).map(|n| ceiling(base, cap, n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(ceiling(base, cap, u32::MAX), cap, "no overflow");
    }

    #[test]
    fn a_wait_is_what_the_draw_gives_within_the_ceiling() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(
            full_jitter(base, cap, 1, |max| max),
            Duration::from_millis(200)
        );
        assert_eq!(full_jitter(base, cap, 1, |_| 0), Duration::ZERO);
        assert_eq!(full_jitter(base, cap, 0, |_| u64::MAX), base, "clamped");
    }
}
