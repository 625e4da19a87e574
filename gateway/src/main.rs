//! `support-gateway`: the thin binary edge.

fn main() -> std::process::ExitCode {
    eprintln!("support-gateway: not yet — the gateway lands with issue 4");
    std::process::ExitCode::from(69)
}
