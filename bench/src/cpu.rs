//! The CPUs the benchmark runs on: the emulator on one, each client on another, and
//! one core's cipher limit.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The CPU every client runs on, when the machine has two or more.
pub(crate) static CLIENT_CPU: OnceLock<Option<usize>> = OnceLock::new();

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is valid; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return Vec::new();
    }
    // SAFETY: set was filled above; CPU_ISSET only reads it.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
        .collect()
}

/// Pins the calling thread (and what it spawns or forks from now on) to `cpu`.
pub(crate) fn pin(cpu: usize) -> bool {
    // SAFETY: an all-zero cpu_set_t is valid; CPU_SET writes one bit of it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: set is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// One core's rate (GB/s) sealing 16 KiB TLS records with ring, the crypto provider of
/// fbup's rustls: the ceiling of any TLS client on that core.
pub(crate) fn cipher_rates() -> Vec<(&'static str, &'static str, f64)> {
    use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
    let algs: [(&str, &str, &aead::Algorithm); 3] = [
        (
            "AES-128-GCM",
            "TLS13_AES_128_GCM_SHA256",
            &aead::AES_128_GCM,
        ),
        (
            "AES-256-GCM",
            "TLS13_AES_256_GCM_SHA384",
            &aead::AES_256_GCM,
        ),
        (
            "ChaCha20-Poly1305",
            "TLS13_CHACHA20_POLY1305_SHA256",
            &aead::CHACHA20_POLY1305,
        ),
    ];
    let mut out = Vec::new();
    for (name, suite, alg) in algs {
        let key_bytes = vec![7u8; alg.key_len()];
        let key = LessSafeKey::new(UnboundKey::new(alg, &key_bytes).expect("key"));
        let mut record = vec![0x5au8; 16 * 1024];
        let mut n: u64 = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(500) {
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&n.to_be_bytes());
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    &mut record,
                )
                .expect("seal");
            let _ = std::hint::black_box(tag);
            n += 1;
        }
        let rate = n as f64 * record.len() as f64 / start.elapsed().as_secs_f64() / 1e9;
        out.push((name, suite, rate));
    }
    out
}
