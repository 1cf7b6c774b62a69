//! The drivers' only randomness: backoff jitter and update UUIDs, from a
//! seeded generator so that the sans-IO cores replay exactly in tests.

/// SplitMix64: tiny, fast, and good enough for jitter and UUID bits.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1]`, like Mesos's `os::random() / RAND_MAX`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / ((1u64 << 53) - 1) as f64
    }

    /// A random (version 4) UUID's 16 bytes, as Mesos's `UUID::random().toBytes()`.
    pub(crate) fn uuid(&mut self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        *uuid::Builder::from_random_bytes(bytes).as_uuid().as_bytes()
    }
}

/// A seed for a live driver (tests pass their own).
pub(crate) fn seed() -> u64 {
    let u = uuid::Uuid::new_v4();
    let (hi, lo) = u.as_u64_pair();
    hi ^ lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_stays_in_range_and_uuids_are_version_4() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let x = rng.unit();
            assert!((0.0..=1.0).contains(&x));
        }
        let id = uuid::Uuid::from_bytes(rng.uuid());
        assert_eq!(id.get_version_num(), 4);
        assert_ne!(rng.uuid(), rng.uuid());
    }
}
