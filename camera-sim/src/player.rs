//! Streams one session: real-time pacing, looping, RTCP, and faults.
//!
//! Every session has its own timeline starting at `PLAY`. A sample is sent
//! when wall time since `PLAY` reaches its decode time, and carries its
//! presentation time as RTP timestamp. Loop `n` is offset by `n` × the clip's
//! loop period, so timestamps and sequence numbers continue across loops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::faults::{due, Faults};
use crate::media::{Clip, Sample, VideoCodec, VIDEO_CLOCK};
use crate::packetize::{self, Payload, MAX_PAYLOAD};
use crate::sdp::{AUDIO_PT, VIDEO_PT};
use crate::server::Mount;
use crate::session::{TrackKind, TrackSetup, TrackTransport};
use crate::stats::MountCounters as C;
use crate::{rtcp, rtp};

/// How often each track gets a sender report.
const SR_INTERVAL: Duration = Duration::from_secs(1);
/// Upper bound on sleeping, so runtime fault changes take effect promptly.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Size of the burst written by the garbage fault.
const GARBAGE_LEN: usize = 512;

/// What the player asks the connection's writer to do.
#[derive(Debug)]
pub(crate) enum Out {
    Data(Vec<u8>),
    /// Close the TCP connection (the `close_after` fault).
    Close,
}

/// State shared between a connection and its players.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// Set by the stall fault: the writer then discards everything.
    pub stalled: AtomicBool,
}

/// The connection a session plays on.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub tx: mpsc::Sender<Out>,
    pub conn: Arc<ConnState>,
}

/// Position in one track's endless, looping timeline.
struct Cursor {
    clip: Arc<Clip>,
    kind: TrackKind,
    clock: u32,
    idx: usize,
    loop_n: u64,
    /// Timeline position (ticks) where the current clip's time zero sits;
    /// moves when the SPS-change fault swaps clips.
    origin: u64,
}

impl Cursor {
    fn samples(&self) -> &[Sample] {
        match self.kind {
            TrackKind::Video => &self.clip.video.samples,
            TrackKind::Audio => self.clip.audio.as_ref().map_or(&[], |a| &a.samples),
        }
    }

    fn offset(&self) -> u64 {
        self.origin + self.loop_n * self.clip.period_ticks(self.clock)
    }

    fn current(&self) -> &Sample {
        &self.samples()[self.idx]
    }

    fn send_ticks(&self) -> u64 {
        self.offset() + self.current().dts
    }

    fn advance(&mut self) {
        self.idx += 1;
        if self.idx >= self.samples().len() {
            self.idx = 0;
            self.loop_n += 1;
        }
    }

    fn switch_clip(&mut self, clip: Arc<Clip>) {
        self.origin = self.send_ticks();
        self.clip = clip;
        self.idx = 0;
        self.loop_n = 0;
    }
}

/// One track's sending state.
struct Track {
    setup: TrackSetup,
    cursor: Cursor,
    seq: u16,
    packets: u32,
    octets: u32,
    next_sr: Instant,
    /// Per track, so the loss pattern doesn't depend on A/V interleaving.
    drop_rng: StdRng,
}

/// Why sending stopped.
struct Gone;

struct Player {
    mount: Arc<Mount>,
    out: Output,
    t0: Instant,
}

fn ticks_to_duration(ticks: u64, clock: u32) -> Duration {
    Duration::from_micros((u128::from(ticks) * 1_000_000 / u128::from(clock)) as u64)
}

fn duration_to_ticks(d: Duration, clock: u32) -> u64 {
    (d.as_micros() * u128::from(clock) / 1_000_000) as u64
}

/// Plays until the connection goes away, a fault ends the session, or the
/// task is aborted (TEARDOWN).
pub(crate) async fn run(mount: Arc<Mount>, setups: Vec<TrackSetup>, out: Output) {
    let t0 = Instant::now();
    let seed = mount.faults().drop_seed;
    let mut tracks: Vec<Track> = setups
        .into_iter()
        .filter_map(|setup| {
            let clock = match setup.kind {
                TrackKind::Video => VIDEO_CLOCK,
                TrackKind::Audio => mount.clip.audio.as_ref()?.sample_rate,
            };
            Some(Track {
                cursor: Cursor {
                    clip: mount.clip.clone(),
                    kind: setup.kind,
                    clock,
                    idx: 0,
                    loop_n: 0,
                    origin: 0,
                },
                seq: setup.initial_seq,
                packets: 0,
                octets: 0,
                next_sr: t0 + SR_INTERVAL / 2,
                drop_rng: StdRng::seed_from_u64(seed ^ (setup.kind as u64 + 1)),
                setup,
            })
        })
        .collect();
    let mut player = Player { mount, out, t0 };
    let _ = player.play(&mut tracks).await;
}

impl Player {
    async fn play(&mut self, tracks: &mut [Track]) -> Result<(), Gone> {
        let mut garbage_sent = false;
        let mut switched = false;
        loop {
            let faults = self.mount.faults();
            let elapsed = self.t0.elapsed();
            if due(faults.close_after, elapsed) {
                C::add(&self.mount.counters.closed_by_fault, 1);
                let _ = self.out.tx.send(Out::Close).await;
                return Err(Gone);
            }
            if due(faults.stall_after, elapsed) {
                self.out.conn.stalled.store(true, Ordering::Relaxed);
                // Keep the connection open, send nothing, until aborted.
                std::future::pending::<()>().await;
            }
            if !garbage_sent && due(faults.garbage_after, elapsed) {
                garbage_sent = true;
                self.send_garbage().await?;
            }
            if !switched && due(faults.sps_change_after, elapsed) {
                if let Some(alt) = self.mount.alt_clip.clone() {
                    for t in tracks
                        .iter_mut()
                        .filter(|t| t.setup.kind == TrackKind::Video)
                    {
                        // Switch only at a keyframe so no GOP is cut short.
                        if t.cursor.current().is_sync {
                            t.cursor.switch_clip(alt.clone());
                            switched = true;
                        }
                    }
                }
            }

            let now = Instant::now();
            let mut sent_any = false;
            for t in tracks.iter_mut() {
                if self.t0 + ticks_to_duration(t.cursor.send_ticks(), t.cursor.clock) <= now {
                    self.send_sample(t, &faults).await?;
                    sent_any = true;
                }
                if t.packets > 0 && t.next_sr <= now {
                    self.send_sr(t, &faults).await?;
                    t.next_sr = now + SR_INTERVAL;
                }
            }
            if sent_any {
                // Re-check faults and other due samples before sleeping.
                continue;
            }
            let mut wake = now + MAX_SLEEP;
            for t in tracks.iter() {
                wake = wake
                    .min(self.t0 + ticks_to_duration(t.cursor.send_ticks(), t.cursor.clock))
                    .min(t.next_sr);
            }
            tokio::time::sleep_until(wake).await;
        }
    }

    /// The timestamp jump in a track's clock, if the fault is active.
    fn jump(&self, faults: &Faults, clock: u32) -> i64 {
        match faults.timestamp_jump_after {
            Some((after, ticks90)) if self.t0.elapsed() >= after => {
                ((i128::from(ticks90) * i128::from(clock)) / i128::from(VIDEO_CLOCK)) as i64
            }
            _ => 0,
        }
    }

    async fn send_sample(&mut self, t: &mut Track, faults: &Faults) -> Result<(), Gone> {
        let clock = t.cursor.clock;
        let sample = t.cursor.current().clone();
        let ts = t
            .setup
            .initial_ts
            .wrapping_add((t.cursor.offset() + sample.pts) as u32)
            .wrapping_add(self.jump(faults, clock) as u32);
        let mount = self.mount.clone();
        let counters = &mount.counters;
        match t.setup.kind {
            TrackKind::Video => {
                let codec = &t.cursor.clip.video.codec;
                let (keyframe, has_sps) = match codec {
                    VideoCodec::H264 { .. } => (
                        packetize::h264::is_idr(&sample.units),
                        packetize::h264::has_sps(&sample.units),
                    ),
                    VideoCodec::H265 { .. } => (
                        packetize::h265::is_irap(&sample.units),
                        packetize::h265::has_sps(&sample.units),
                    ),
                };
                let keyframe = keyframe || sample.is_sync;
                // Cameras repeat parameter sets before every keyframe; clients
                // that join late or see an SPS change depend on it.
                let mut nals = Vec::with_capacity(sample.units.len() + 3);
                if faults.no_parameter_sets {
                    let is_parameter_set = match codec {
                        VideoCodec::H264 { .. } => packetize::h264::is_parameter_set,
                        VideoCodec::H265 { .. } => packetize::h265::is_parameter_set,
                    };
                    nals.extend(
                        sample
                            .units
                            .iter()
                            .filter(|n| !is_parameter_set(n))
                            .cloned(),
                    );
                } else {
                    if keyframe && !has_sps {
                        nals.extend(codec.parameter_sets());
                    }
                    nals.extend(sample.units.iter().cloned());
                }
                let payloads = match codec {
                    VideoCodec::H264 { .. } => packetize::h264::packetize(&nals, MAX_PAYLOAD),
                    VideoCodec::H265 { .. } => packetize::h265::packetize(&nals, MAX_PAYLOAD),
                };
                let dropped = self
                    .send_payloads(t, VIDEO_PT, ts, payloads, faults)
                    .await?;
                C::add(&counters.video_frames, 1);
                if keyframe {
                    C::add(&counters.keyframes, 1);
                }
                if dropped {
                    C::add(&counters.video_frames_damaged, 1);
                }
            }
            TrackKind::Audio => {
                let payloads = packetize::aac::packetize(&sample.units[0], MAX_PAYLOAD);
                self.send_payloads(t, AUDIO_PT, ts, payloads, faults)
                    .await?;
                C::add(&counters.audio_frames, 1);
            }
        }
        t.cursor.advance();
        Ok(())
    }

    /// Sends the payloads of one access unit; returns whether any was dropped.
    async fn send_payloads(
        &mut self,
        t: &mut Track,
        pt: u8,
        ts: u32,
        payloads: Vec<Payload>,
        faults: &Faults,
    ) -> Result<bool, Gone> {
        let drop_p = faults.drop_probability();
        let mut dropped = false;
        let counters = &self.mount.counters;
        for p in payloads {
            let seq = t.seq;
            t.seq = t.seq.wrapping_add(1);
            if drop_p > 0.0 && t.drop_rng.gen_bool(drop_p) {
                dropped = true;
                C::add(&counters.packets_dropped, 1);
                continue;
            }
            let pkt = rtp::packet(pt, p.marker, seq, ts, t.setup.ssrc, &p.data);
            self.transmit(&t.setup.transport, false, pkt).await?;
            t.packets = t.packets.wrapping_add(1);
            t.octets = t.octets.wrapping_add(p.data.len() as u32);
            C::add(&counters.packets_sent, 1);
            C::add(&counters.bytes_sent, p.data.len() as u64);
        }
        Ok(dropped)
    }

    async fn send_sr(&mut self, t: &Track, faults: &Faults) -> Result<(), Gone> {
        let clock = t.cursor.clock;
        // Wall time since PLAY maps 1:1 onto the timeline (see module docs).
        let ticks = duration_to_ticks(self.t0.elapsed(), clock);
        let rtp_ts = t
            .setup
            .initial_ts
            .wrapping_add(ticks as u32)
            .wrapping_add(self.jump(faults, clock) as u32);
        let ntp = rtcp::ntp_timestamp(SystemTime::now());
        let pkt = rtcp::sender_report(t.setup.ssrc, ntp, rtp_ts, t.packets, t.octets);
        self.transmit(&t.setup.transport, true, pkt).await?;
        C::add(&self.mount.counters.rtcp_reports, 1);
        Ok(())
    }

    async fn transmit(
        &self,
        transport: &TrackTransport,
        rtcp: bool,
        pkt: Vec<u8>,
    ) -> Result<(), Gone> {
        match transport {
            TrackTransport::Interleaved {
                rtp_channel,
                rtcp_channel,
            } => {
                let ch = if rtcp { *rtcp_channel } else { *rtp_channel };
                self.out
                    .tx
                    .send(Out::Data(rtp::interleaved(ch, &pkt)))
                    .await
                    .map_err(|_| Gone)
            }
            TrackTransport::Udp {
                rtp,
                rtcp: rtcp_sock,
                rtp_dest,
                rtcp_dest,
            } => {
                if self.out.tx.is_closed() {
                    return Err(Gone);
                }
                let (sock, dest) = if rtcp {
                    (rtcp_sock, rtcp_dest)
                } else {
                    (rtp, rtp_dest)
                };
                // UDP is fire-and-forget; ICMP errors from a closed client port
                // must not end the session.
                let _ = sock.send_to(&pkt, dest).await;
                Ok(())
            }
        }
    }

    async fn send_garbage(&mut self) -> Result<(), Gone> {
        let mut junk = vec![0u8; GARBAGE_LEN];
        rand::thread_rng().fill_bytes(&mut junk);
        // Not '$' and not a letter, so it can't be mistaken for a frame or reply.
        junk[0] = 0xff;
        self.out.tx.send(Out::Data(junk)).await.map_err(|_| Gone)
    }
}
