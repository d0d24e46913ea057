//! A camera's pre-roll: the frames of the last seconds, from a keyframe of
//! the primary track, bounded in time and bytes.

use std::collections::VecDeque;

use crate::mux::Frame;

pub(crate) struct PreRoll {
    frames: VecDeque<Frame>,
    /// Sequence number of `frames[0]`.
    base: u64,
    /// Primary keyframes in the ring: (sequence number, wall ns).
    keys: VecDeque<(u64, i64)>,
    bytes: usize,
    keep_ns: i64,
    max_bytes: usize,
    primary: usize,
}

impl PreRoll {
    pub(crate) fn new(keep: std::time::Duration, max_bytes: u64) -> Self {
        PreRoll {
            frames: VecDeque::new(),
            base: 0,
            keys: VecDeque::new(),
            bytes: 0,
            keep_ns: i64::try_from(keep.as_nanos()).unwrap_or(i64::MAX / 4),
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            primary: 0,
        }
    }

    /// Forgets everything (a new session: other tracks, a new timeline).
    pub(crate) fn reset(&mut self, primary: usize) {
        self.base += self.frames.len() as u64;
        self.frames.clear();
        self.keys.clear();
        self.bytes = 0;
        self.primary = primary;
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_key(&self, f: &Frame) -> bool {
        f.track == self.primary && f.keyframe
    }

    pub(crate) fn primary(&self) -> usize {
        self.primary
    }

    /// Keeps `f`; drops whole GOPs from the front while the ring still
    /// reaches back `keep` without them, and while it holds more than the
    /// byte bound.
    pub(crate) fn push(&mut self, f: &Frame) {
        if self.keep_ns == 0 || self.max_bytes == 0 {
            return;
        }
        let key = self.is_key(f);
        if self.frames.is_empty() && !key {
            return;
        }
        if key {
            self.keys
                .push_back((self.base + self.frames.len() as u64, f.wall.0));
        }
        self.bytes += f.data.len();
        let newest = f.wall.0;
        self.frames.push_back(f.clone());
        while self.keys.len() >= 2
            && (self.keys[1].1 <= newest.saturating_sub(self.keep_ns)
                || self.bytes > self.max_bytes)
        {
            let until = self.keys[1].0;
            self.drop_until(until);
            self.keys.pop_front();
        }
        if self.bytes > self.max_bytes {
            // One GOP is over the bound: hold nothing until the next key.
            self.reset(self.primary);
        }
    }

    fn drop_until(&mut self, seq: u64) {
        while self.base < seq {
            match self.frames.pop_front() {
                Some(f) => self.bytes -= f.data.len(),
                None => break,
            }
            self.base += 1;
        }
    }

    /// Where a clip presenting from `from_ns` (wall clock) starts: the
    /// frames from the last keyframe at or before it (the first keyframe
    /// held, if the ring does not reach back that far), and the first
    /// primary frame at or after `from_ns`. `None` until such a frame has
    /// arrived.
    pub(crate) fn start_for(
        &self,
        from_ns: i64,
    ) -> Option<(impl Iterator<Item = &Frame>, &Frame, &Frame)> {
        let &(first_key, _) = self.keys.front()?;
        let key_seq = self
            .keys
            .iter()
            .rev()
            .find(|(_, w)| *w <= from_ns)
            .map_or(first_key, |(s, _)| *s);
        let skip = usize::try_from(key_seq - self.base).ok()?;
        let key = self.frames.get(skip)?;
        let exact = self
            .frames
            .iter()
            .skip(skip)
            .find(|f| f.track == self.primary && f.wall.0 >= from_ns)?;
        Some((self.frames.iter().skip(skip), key, exact))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::WallTime;
    use bytes::Bytes;
    use std::time::Duration;

    fn frame(i: i64, key: bool) -> Frame {
        Frame {
            track: 0,
            pts: i * 3600,
            wall: WallTime(i * 40_000_000),
            keyframe: key,
            duration_hint: None,
            data: Bytes::from(vec![0u8; 100]),
        }
    }

    #[test]
    fn keeps_whole_gops_reaching_back_the_pre_roll() {
        let mut r = PreRoll::new(Duration::from_secs(2), 1 << 20);
        for i in 0..500 {
            r.push(&frame(i, i % 25 == 0));
        }
        // Newest frame 499 (19.96 s): the ring must reach back to 17.96 s,
        // so it starts at the keyframe at 17 s (frame 425).
        let (frames, key, exact) = r.start_for(499 * 40_000_000 - 2_000_000_000).unwrap();
        assert_eq!(key.pts, 425 * 3600);
        assert_eq!(exact.pts, 449 * 3600);
        assert_eq!(frames.count(), 75);
        assert_eq!(r.bytes(), 7500);
    }

    #[test]
    fn byte_bound_drops_gops() {
        let mut r = PreRoll::new(Duration::from_secs(60), 5000);
        for i in 0..500 {
            r.push(&frame(i, i % 25 == 0));
        }
        // Two GOPs of 2500 bytes fit, a third does not.
        assert_eq!(r.bytes(), 5000);
        let (_, key, _) = r.start_for(0).unwrap();
        assert_eq!(key.pts, 450 * 3600);
    }

    #[test]
    fn waits_for_a_frame_at_the_start() {
        let mut r = PreRoll::new(Duration::from_secs(10), 1 << 20);
        for i in 0..10 {
            r.push(&frame(i, i == 0));
        }
        assert!(r.start_for(20 * 40_000_000).is_none());
        r.push(&frame(20, false));
        assert!(r.start_for(20 * 40_000_000).is_some());
    }
}
