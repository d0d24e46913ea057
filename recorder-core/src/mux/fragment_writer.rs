//! `prft` + `moof` + `mdat` header for one fragment.

use crate::mp4::{
    self, BoxWriter, SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC, TFHD_DEFAULT_BASE_IS_MOOF,
    TFHD_DEFAULT_DURATION, TFHD_DEFAULT_SIZE, TRUN_DATA_OFFSET, TRUN_SAMPLE_COMPOSITION_OFFSET,
    TRUN_SAMPLE_DURATION, TRUN_SAMPLE_FLAGS, TRUN_SAMPLE_SIZE,
};

/// One sample as the `trun` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SampleEntry {
    pub(crate) duration: u32,
    pub(crate) size: u32,
    pub(crate) sync: bool,
    /// Presentation minus decode time, in the track's timescale.
    pub(crate) composition_offset: i32,
}

/// The samples of one track within the fragment.
pub(crate) struct TrackRun<'a> {
    pub(crate) track_id: u32,
    pub(crate) video: bool,
    /// Decode time of the first sample relative to the segment start.
    pub(crate) base_decode_time: u64,
    pub(crate) samples: &'a [SampleEntry],
    /// For PCM (G.711): bytes per PCM sample. Players expect one MP4
    /// sample per PCM sample, so the run is written as that many 1-tick
    /// samples of this size, through `tfhd` defaults.
    pub(crate) pcm_sample_size: Option<u32>,
}

/// The wall-clock anchor of a fragment.
pub(crate) struct ProducerReference {
    pub(crate) track_id: u32,
    pub(crate) ntp: u64,
    pub(crate) media_time: u64,
}

/// Writes `prft`, `moof` and the `mdat` header, with `runs` laid out in
/// `mdat` in the given order. Returns the header bytes.
pub(crate) fn write_fragment_header(
    sequence: u32,
    prft: &ProducerReference,
    runs: &[TrackRun<'_>],
) -> Vec<u8> {
    let samples: usize = runs.iter().map(|r| r.samples.len()).sum();
    let mut w = BoxWriter::with_capacity(128 + runs.len() * 64 + samples * 16);
    w.full(mp4::PRFT, 1, 0, |w| {
        w.u32(prft.track_id);
        w.u64(prft.ntp);
        w.u64(prft.media_time);
    });
    let moof_start = w.pos();
    let mut data_offset_at = Vec::with_capacity(runs.len());
    w.boxed(mp4::MOOF, |w| {
        w.full(mp4::MFHD, 0, 0, |w| w.u32(sequence));
        for run in runs {
            w.boxed(mp4::TRAF, |w| {
                match run.pcm_sample_size {
                    Some(size) => w.full(
                        mp4::TFHD,
                        0,
                        TFHD_DEFAULT_BASE_IS_MOOF | TFHD_DEFAULT_DURATION | TFHD_DEFAULT_SIZE,
                        |w| {
                            w.u32(run.track_id);
                            w.u32(1);
                            w.u32(size);
                        },
                    ),
                    None => w.full(mp4::TFHD, 0, TFHD_DEFAULT_BASE_IS_MOOF, |w| {
                        w.u32(run.track_id)
                    }),
                }
                w.full(mp4::TFDT, 1, 0, |w| w.u64(run.base_decode_time));
                let video = run.video;
                let needs_cto = video && run.samples.iter().any(|s| s.composition_offset != 0);
                let negative = run.samples.iter().any(|s| s.composition_offset < 0);
                let mut flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE;
                if video {
                    flags |= TRUN_SAMPLE_FLAGS;
                }
                if needs_cto {
                    flags |= TRUN_SAMPLE_COMPOSITION_OFFSET;
                }
                if let Some(size) = run.pcm_sample_size {
                    let bytes: u64 = run.samples.iter().map(|s| u64::from(s.size)).sum();
                    w.full(mp4::TRUN, 0, TRUN_DATA_OFFSET, |w| {
                        w.u32((bytes / u64::from(size.max(1))) as u32);
                        data_offset_at.push(w.pos());
                        w.i32(0);
                    });
                    return;
                }
                // Version 1 makes composition offsets signed; the muxer
                // avoids negative ones, but reordering deeper than the
                // segment's first fragment showed still needs them.
                w.full(mp4::TRUN, u8::from(negative), flags, |w| {
                    w.u32(run.samples.len() as u32);
                    data_offset_at.push(w.pos());
                    w.i32(0);
                    for s in run.samples {
                        w.u32(s.duration);
                        w.u32(s.size);
                        if video {
                            w.u32(if s.sync {
                                SAMPLE_FLAGS_SYNC
                            } else {
                                SAMPLE_FLAGS_NON_SYNC
                            });
                        }
                        if needs_cto {
                            w.i32(s.composition_offset);
                        }
                    }
                });
            });
        }
    });
    let moof_len = w.pos() - moof_start;
    let payload: u64 = runs
        .iter()
        .flat_map(|r| r.samples.iter())
        .map(|s| u64::from(s.size))
        .sum();
    let large = payload + 8 > u64::from(u32::MAX);
    let mdat_header = if large { 16 } else { 8 };
    let mut offset = (moof_len + mdat_header) as u64;
    for (run, at) in runs.iter().zip(data_offset_at) {
        w.patch_u32(at, offset as u32);
        offset += run.samples.iter().map(|s| u64::from(s.size)).sum::<u64>();
    }
    if large {
        w.u32(1);
        w.fourcc(mp4::MDAT);
        w.u64(payload + 16);
    } else {
        w.u32((payload + 8) as u32);
        w.fourcc(mp4::MDAT);
    }
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_fragment_matches_hand_checked_bytes() {
        let samples = [
            SampleEntry {
                duration: 1024,
                size: 3,
                sync: true,
                composition_offset: 0,
            },
            SampleEntry {
                duration: 1024,
                size: 2,
                sync: true,
                composition_offset: 0,
            },
        ];
        let runs = [TrackRun {
            track_id: 2,
            video: false,
            base_decode_time: 0x1_0000_0000,
            samples: &samples,
            pcm_sample_size: None,
        }];
        let prft = ProducerReference {
            track_id: 2,
            ntp: 0x0102_0304_0506_0708,
            media_time: 7,
        };
        let h = write_fragment_header(9, &prft, &runs);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 32, b'p', b'r', b'f', b't', 1, 0, 0, 0, 0, 0, 0, 2,
            1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 7,
            0, 0, 0, 104, b'm', b'o', b'o', b'f',
              0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 9,
              0, 0, 0, 80, b't', b'r', b'a', b'f',
                0, 0, 0, 16, b't', b'f', b'h', b'd', 0, 2, 0, 0, 0, 0, 0, 2,
                0, 0, 0, 20, b't', b'f', b'd', b't', 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
                0, 0, 0, 36, b't', b'r', b'u', b'n', 0, 0, 3, 1, 0, 0, 0, 2, 0, 0, 0, 112,
                  0, 0, 4, 0, 0, 0, 0, 3,
                  0, 0, 4, 0, 0, 0, 0, 2,
            0, 0, 0, 13, b'm', b'd', b'a', b't',
        ];
        assert_eq!(h, expected);
    }

    #[test]
    fn video_with_reordering_uses_signed_offsets() {
        let samples = [
            SampleEntry {
                duration: 3000,
                size: 10,
                sync: true,
                composition_offset: 0,
            },
            SampleEntry {
                duration: 3000,
                size: 10,
                sync: false,
                composition_offset: -3000,
            },
        ];
        let runs = [TrackRun {
            track_id: 1,
            video: true,
            base_decode_time: 0,
            samples: &samples,
            pcm_sample_size: None,
        }];
        let prft = ProducerReference {
            track_id: 1,
            ntp: 0,
            media_time: 0,
        };
        let h = write_fragment_header(1, &prft, &runs);
        let trun = h.windows(4).position(|w| w == b"trun").unwrap();
        assert_eq!(&h[trun + 4..trun + 8], &[1, 0, 0x0f, 0x01]);
        let last_cto = &h[h.len() - 8 - 4..h.len() - 8];
        assert_eq!(i32::from_be_bytes(last_cto.try_into().unwrap()), -3000);
        assert_eq!(&h[trun + 24..trun + 28], &SAMPLE_FLAGS_SYNC.to_be_bytes());
        assert_eq!(
            &h[trun + 40..trun + 44],
            &SAMPLE_FLAGS_NON_SYNC.to_be_bytes()
        );
    }
}
