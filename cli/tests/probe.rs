//! `fbup::probe` (the library's `probe` feature, which the command turns on) against
//! the emulator: what leaves it never holds the token.

use fbup::Config;
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};

const TOKEN: &str = "EAAsecurity-secret-token";

#[test]
fn the_probe_report_never_holds_the_token_even_when_graph_echoes_it() {
    let emu = Emulator::start(Default::default()).unwrap();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Respond {
            status: 400,
            error: Some(fbup_emulator::ErrorSpec {
                message: format!("bad request from OAuth {TOKEN}"),
                error_type: "OAuthException".into(),
                code: 100,
                subcode: None,
                is_transient: false,
            }),
            headers: Vec::new(),
        },
    ));
    let mut config = Config::new("1234", TOKEN);
    config.graph_url = emu.url().to_string();
    let report = fbup::probe(&config).unwrap();
    let text = format!("{report:?}");
    assert!(!text.contains(TOKEN), "{text}");
    // The echo was there to be found.
    assert!(text.contains("bad request from OAuth <token>"), "{text}");
}
