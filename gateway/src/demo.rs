//! `support-gateway demo`: a newcomer's first run. It starts a stub CRM, the gateway on
//! SQLite in a fresh folder with generated keys, and prints commands that, pasted in
//! order, tell the whole story: grant, token exchange, an allowed call, a blocked call,
//! revoke, the refused next call, the audit listing and the chain verification.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support_access_core::Clock;
use support_access_memory::SystemClock;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::{Binds, Running};

/// The default route policy, built in so the demo runs from any folder.
pub const DEFAULT_POLICY: &str = include_str!("../../config/policy/zoho-crm-v8.toml");

const ORG: &str = "demo-org";

/// What the demo needs to run.
#[derive(Debug)]
pub struct Demo {
    /// The running gateway.
    pub gateway: Running,
    /// The stub CRM's address.
    pub crm: SocketAddr,
    /// The folder holding config, keys and database.
    pub dir: PathBuf,
    /// The script to print.
    pub script: String,
}

fn die(message: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(message.to_string())
}

/// Writes keys and config into `dir`, starts the stub CRM and the gateway on free
/// loopback ports, and returns the script of commands.
pub async fn start(dir: &Path, exe: &Path) -> std::io::Result<Demo> {
    std::fs::create_dir_all(dir.join("keys"))?;
    std::fs::create_dir_all(dir.join("policy"))?;
    std::fs::write(dir.join("policy/zoho-crm-v8.toml"), DEFAULT_POLICY)?;
    let rng = SystemRandom::new();

    let customer =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(die)?;
    let customer_pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, customer.as_ref())
            .map_err(die)?;
    let point = customer_pair.public_key().as_ref();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "demo-customer",
        "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]});
    std::fs::write(dir.join("keys/customer.jwks.json"), jwks.to_string())?;

    let staff = Ed25519KeyPair::generate_pkcs8(&rng).map_err(die)?;
    let staff_pair = Ed25519KeyPair::from_pkcs8(staff.as_ref()).map_err(die)?;
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(staff_pair.public_key().as_ref());
    std::fs::write(
        dir.join("keys/staff.pub.pem"),
        pem::encode(&pem::Pem::new("PUBLIC KEY", spki)),
    )?;

    let crm = start_crm().await?;
    let config_text = format!(
        r#"[upstream]
url = "http://{crm}"
[storage]
url = "sqlite://support-access.db?mode=rwc"
[auth.customer]
issuer = "https://accounts.crm.example"
audience = "crm"
key = {{ jwks_file = "keys/customer.jwks.json" }}
[auth.staff]
issuer = "https://staff.vendor.example"
audience = "support-gateway"
key = {{ pem_file = "keys/staff.pub.pem" }}
[auth.support]
signing_key = "keys/support-signing.pem"
"#
    );
    let config_path = dir.join("gateway.toml");
    std::fs::write(&config_path, &config_text)?;
    let config = Config::from_toml(&config_text, dir).map_err(die)?;
    let binds = Binds {
        proxy: "127.0.0.1:0".parse().map_err(die)?,
        ops: "127.0.0.1:0".parse().map_err(die)?,
    };
    let gateway = crate::build(config, binds).await.map_err(die)?;

    let now = SystemClock.now().timestamp();
    let admin_claims = json!({"iss": "https://accounts.crm.example", "aud": "crm", "sub": "alice@demo-org",
        "org": ORG, "roles": ["admin"], "iat": now, "exp": now + 8 * 3600});
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("demo-customer".into());
    let admin = jsonwebtoken::encode(
        &header,
        &admin_claims,
        &EncodingKey::from_ec_der(customer.as_ref()),
    )
    .map_err(die)?;
    let staff_claims = json!({"iss": "https://staff.vendor.example", "aud": "support-gateway", "sub": "ana@vendor",
        "name": "Ana", "roles": ["support_agent"], "iat": now, "exp": now + 8 * 3600});
    let staff_token = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &staff_claims,
        &EncodingKey::from_ed_der(staff.as_ref()),
    )
    .map_err(die)?;

    let script = script(gateway.proxy, &admin, &staff_token, exe, &config_path);
    Ok(Demo {
        gateway,
        crm,
        dir: dir.to_path_buf(),
        script,
    })
}

fn script(proxy: SocketAddr, admin: &str, staff: &str, exe: &Path, config: &Path) -> String {
    let base = format!("http://{proxy}");
    let api = format!("{base}/support-access/v1");
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Paste these commands, in order, into a shell (bash) while the demo runs."
    );
    let _ = writeln!(
        s,
        "# An admin of org `{ORG}` (token from the demo's customer identity provider):"
    );
    let _ = writeln!(s, "export ADMIN='{admin}'");
    let _ = writeln!(
        s,
        "# A support engineer of the vendor (token from the demo's staff identity provider):"
    );
    let _ = writeln!(s, "export STAFF='{staff}'");
    let _ = writeln!(s);
    let _ = writeln!(s, "# 1. The admin grants support access for two days:");
    let _ = writeln!(
        s,
        "curl -s -X POST {api}/grant -H \"Authorization: Bearer $ADMIN\" -d '{{\"days\": 2, \"reason\": \"Sync errors on Leads\", \"ticket\": \"T-1042\"}}'; echo"
    );
    let _ = writeln!(
        s,
        "# 2. The engineer exchanges the staff token for a support token (takes the seat):"
    );
    let _ = writeln!(
        s,
        "export SUPPORT=$(curl -s -X POST {api}/token -H \"Authorization: Bearer $STAFF\" -d '{{\"org\": \"{ORG}\"}}' | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/'); echo \"${{SUPPORT:0:24}}…\""
    );
    let _ = writeln!(s, "# 3. An allowed call: list leads through the gateway:");
    let _ = writeln!(
        s,
        "curl -s {base}/crm/v8/Leads -H \"Authorization: Zoho-oauthtoken $SUPPORT\"; echo"
    );
    let _ = writeln!(
        s,
        "# 4. A blocked call: support may not send e-mail (restriction 5):"
    );
    let _ = writeln!(
        s,
        "curl -s -X POST {base}/crm/v8/Leads/4150868000000225013/actions/send_mail -H \"Authorization: Zoho-oauthtoken $SUPPORT\" -d '{{\"data\": []}}'; echo"
    );
    let _ = writeln!(s, "# 5. The admin revokes access:");
    let _ = writeln!(
        s,
        "curl -s -o /dev/null -w '%{{http_code}}\\n' -X DELETE {api}/grant -H \"Authorization: Bearer $ADMIN\""
    );
    let _ = writeln!(s, "# 6. The very next support call is refused:");
    let _ = writeln!(
        s,
        "curl -s {base}/crm/v8/Leads -H \"Authorization: Zoho-oauthtoken $SUPPORT\"; echo"
    );
    let _ = writeln!(s, "# 7. The audit log, newest first:");
    let _ = writeln!(
        s,
        "curl -s \"{api}/audit?limit=20\" -H \"Authorization: Bearer $ADMIN\"; echo"
    );
    let _ = writeln!(s, "# 8. The hash chain of the audit log verifies:");
    let _ = writeln!(
        s,
        "'{}' audit verify --config '{}'",
        exe.display(),
        config.display()
    );
    s
}

/// A stub CRM: answers every request with a small Zoho-like record list.
async fn start_crm() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let body = json!({"data": [{"id": "4150868000000225013", "Last_Name": "Lovelace",
                        "Company": "Analytical Engines"}], "info": {"path": request.uri().path()}});
                    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
