//! The seeded fault soak: hundreds of uploads through the C ABI against the emulator's
//! random fault mode (cuts at random offsets, stalls past the stall timeout, 5xx and
//! throttling answers, lost final answers), file sizes from 1 byte to 32 MiB.
//!
//! `FBUP_SOAK_SEED` replays a run; `FBUP_SOAK_UPLOADS` runs a longer one.

use std::ffi::{c_void, CStr, CString};
use std::io::Write;
use std::ptr;

use fbup::ffi::*;
use fbup_emulator::{Emulator, RandomFaults, Storage};
use sha2::{Digest, Sha256};

/// What the progress callback saw during one upload.
#[derive(Default)]
struct Seen {
    last: u64,
    calls: u32,
    backwards: u32,
    over_total: u32,
    at_total: u32,
}

unsafe extern "C" fn on_progress(user: *mut c_void, done: u64, total: u64) -> i32 {
    let seen = &mut *(user as *mut Seen);
    if seen.calls > 0 && done < seen.last {
        seen.backwards += 1;
    }
    if done > total {
        seen.over_total += 1;
    }
    if done == total {
        seen.at_total += 1;
    }
    seen.last = done;
    seen.calls += 1;
    0
}

/// SplitMix64, for sizes and contents that replay from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The send buffer of one request: what a cut may cost at most in re-sent bytes.
const SEND_BUFFER: u64 = 128 * 1024;

#[test]
fn seeded_fault_soak_through_the_c_abi() {
    let seed = env_u64("FBUP_SOAK_SEED", 20_261_122);
    let uploads = env_u64("FBUP_SOAK_UPLOADS", 300);
    let emu = Emulator::start(fbup_emulator::Config {
        storage: Storage::Discard { hash: true },
        random_faults: Some(RandomFaults {
            seed,
            rate: 0.3,
            stall_ms: 700,
        }),
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = CString::new("1234").unwrap();
    let token = CString::new("EAAsoak-token").unwrap();
    let url = CString::new(emu.url()).unwrap();
    let mut rng = Rng(seed);

    let mut exact = 0u64;
    let mut file_bytes = 0u64;
    let mut failures = Vec::new();
    for n in 0..uploads {
        // Sizes spread evenly over the orders of magnitude from 1 byte to 32 MiB.
        let bits = rng.next() % 26;
        let len = (1u64 << bits) + rng.next() % (1u64 << bits);
        let len = len.min(32 << 20);
        let mut bytes = vec![0u8; len as usize];
        let mut fill = Rng(seed ^ n);
        for chunk in bytes.chunks_mut(8) {
            let v = fill.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        let path = dir.path().join(format!("soak-{n}.mp4"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .unwrap();
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        drop(bytes);
        let cpath = CString::new(path.to_str().unwrap()).unwrap();

        let mut cfg = std::mem::MaybeUninit::<fbup_config>::uninit();
        unsafe { fbup_config_init(cfg.as_mut_ptr()) };
        let mut cfg = unsafe { cfg.assume_init() };
        cfg.app_id = app.as_ptr();
        cfg.access_token = token.as_ptr();
        cfg.graph_url = url.as_ptr();
        cfg.stall_timeout_ms = 300;
        cfg.response_timeout_ms = 3000;
        cfg.retry_base_ms = 2;
        cfg.retry_cap_ms = 20;
        cfg.max_attempts = 12;

        let mut s = ptr::null_mut();
        let mut st = unsafe { fbup_create_session(&cfg, cpath.as_ptr(), &mut s) };
        let mut seen = Seen::default();
        if st == FBUP_OK {
            st =
                unsafe { fbup_upload(s, Some(on_progress), &mut seen as *mut Seen as *mut c_void) };
        }
        let msg = unsafe { CStr::from_ptr(fbup_errmsg(s)) }
            .to_string_lossy()
            .into_owned();
        let id = unsafe { fbup_session_id(s) };
        let id =
            (!id.is_null()).then(|| unsafe { CStr::from_ptr(id) }.to_string_lossy().into_owned());
        unsafe { fbup_free(s) };
        std::fs::remove_file(&path).unwrap();
        file_bytes += len;

        let server_sha = id
            .as_deref()
            .and_then(|id| emu.session(id))
            .and_then(|i| i.sha256);
        let honest = seen.backwards == 0 && seen.over_total == 0 && seen.at_total == 1;
        if st == FBUP_OK && server_sha.as_deref() == Some(sha.as_str()) && honest {
            exact += 1;
        } else {
            failures.push(format!(
                "upload {n} ({len} bytes): status {st}, sha match {}, progress backwards {} over {} \
                 at-total {}: {msg}",
                server_sha.as_deref() == Some(sha.as_str()),
                seen.backwards,
                seen.over_total,
                seen.at_total
            ));
        }
    }
    let received: u64 = emu.sessions().iter().map(|s| s.bytes_received_total).sum();
    let resent = received.saturating_sub(file_bytes);
    let tally = emu.fault_tally();
    let cuts = tally.get("cut").copied().unwrap_or(0) + tally.get("stall").copied().unwrap_or(0);
    println!(
        "soak: {uploads} uploads, {exact} byte-exact, {} lost, {} faults injected, seed {seed}",
        failures.len(),
        emu.faults_injected()
    );
    println!(
        "soak: {file_bytes} file bytes, {received} received by the server, {resent} re-sent \
         (bound: {cuts} cuts and stalls x {SEND_BUFFER} = {}); faults by kind: {tally:?}",
        cuts * SEND_BUFFER
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        emu.faults_injected() > uploads / 10,
        "the schedule injected faults"
    );
    assert!(resent <= cuts * SEND_BUFFER, "re-sent {resent} bytes");
}
