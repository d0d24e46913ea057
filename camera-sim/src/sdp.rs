//! SDP for `DESCRIBE` replies (RFC 4566), in the shape cameras produce.

use std::fmt::Write;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::media::{Clip, VideoCodec, VIDEO_CLOCK};

/// RTP payload type of the video track.
pub(crate) const VIDEO_PT: u8 = 96;
/// RTP payload type of the audio track.
pub(crate) const AUDIO_PT: u8 = 97;
/// Control URL suffix of the video track.
pub(crate) const VIDEO_CONTROL: &str = "trackID=0";
/// Control URL suffix of the audio track.
pub(crate) const AUDIO_CONTROL: &str = "trackID=1";

/// Builds the session description for a clip, with its parameter sets
/// (`sprop-*`) or, when `parameter_sets` is false, without.
pub(crate) fn describe(
    clip: &Clip,
    session_id: u64,
    host_ip: &str,
    parameter_sets: bool,
) -> String {
    let mut s = String::new();
    let ipver = if host_ip.contains(':') { "IP6" } else { "IP4" };
    // `write!` into a String can't fail.
    let _ = write!(
        s,
        "v=0\r\no=- {session_id} 1 IN {ipver} {host_ip}\r\ns=camera-sim\r\n\
         c=IN {ipver} {host_ip}\r\nt=0 0\r\na=control:*\r\na=range:npt=0-\r\n"
    );
    let _ = write!(
        s,
        "m=video 0 RTP/AVP {VIDEO_PT}\r\na=control:{VIDEO_CONTROL}\r\n"
    );
    match &clip.video.codec {
        VideoCodec::H264 { sps, pps } => {
            let plid = sps
                .get(1..4)
                .map(|b| format!("{:02X}{:02X}{:02X}", b[0], b[1], b[2]))
                .unwrap_or_else(|| "42E01F".into());
            let _ = write!(
                s,
                "a=rtpmap:{VIDEO_PT} H264/{VIDEO_CLOCK}\r\n\
                 a=fmtp:{VIDEO_PT} packetization-mode=1;profile-level-id={plid}"
            );
            if parameter_sets {
                let _ = write!(
                    s,
                    ";sprop-parameter-sets={},{}",
                    B64.encode(sps),
                    B64.encode(pps)
                );
            }
            s.push_str("\r\n");
        }
        VideoCodec::H265 { vps, sps, pps } => {
            let _ = write!(s, "a=rtpmap:{VIDEO_PT} H265/{VIDEO_CLOCK}\r\n");
            if parameter_sets {
                let _ = write!(
                    s,
                    "a=fmtp:{VIDEO_PT} sprop-vps={};sprop-sps={};sprop-pps={}\r\n",
                    B64.encode(vps),
                    B64.encode(sps),
                    B64.encode(pps)
                );
            }
        }
    }
    // Informational, as many cameras send it; clients get the size from the SPS.
    let _ = write!(
        s,
        "a=x-dimensions:{},{}\r\n",
        clip.video.width, clip.video.height
    );
    if let Some(audio) = &clip.audio {
        let config: String = audio.asc.iter().map(|b| format!("{b:02X}")).collect();
        let _ = write!(
            s,
            "m=audio 0 RTP/AVP {AUDIO_PT}\r\na=control:{AUDIO_CONTROL}\r\n\
             a=rtpmap:{AUDIO_PT} MPEG4-GENERIC/{}/{}\r\n\
             a=fmtp:{AUDIO_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;\
             sizelength=13;indexlength=3;indexdeltalength=3;config={config}\r\n",
            audio.sample_rate, audio.channels
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MediaSource;

    #[test]
    fn demo_sdp() {
        let clip = crate::media::load(&MediaSource::Bytes(bytes::Bytes::from_static(
            crate::DEMO_MP4,
        )))
        .unwrap();
        let sdp = describe(&clip, 1, "127.0.0.1", true);
        assert!(sdp.contains("a=rtpmap:96 H264/90000"));
        assert!(sdp.contains("profile-level-id=42C01E"), "{sdp}");
        assert!(sdp.contains("MPEG4-GENERIC/16000/1"));
        assert!(sdp.contains("config=1408"));
        assert!(sdp.contains("sprop-parameter-sets="));
        let bare = describe(&clip, 1, "127.0.0.1", false);
        assert!(!bare.contains("sprop"), "{bare}");
        assert!(bare.contains("packetization-mode=1;profile-level-id=42C01E\r\n"));
    }
}
