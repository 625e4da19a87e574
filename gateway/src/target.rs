//! The request target as HTTP/1.1 and HTTP/2 carry it (SPEC §3, "HTTP/2").
//!
//! An HTTP/1.1 request line in absolute form (`POST http://crm.example/crm/v8/… HTTP/1.1`)
//! names a host and path a proxy or upstream may route on instead of the checked one,
//! so support requests must use origin form. HTTP/2 has no request line: every request
//! carries `:scheme` and `:authority` beside `:path`, and hyper folds them into the URI,
//! so their presence is not an absolute-form target there. A request without a path
//! (authority form, `CONNECT`) is refused in every version.

use http::{Request, Version};

/// The prefix of the gateway's own routes on the proxy listener.
pub const MANAGEMENT_PREFIX: &str = "/support-access/";

/// Whether the request's target is not an origin-form path the gateway may forward.
pub(crate) fn is_absolute_form<B>(request: &Request<B>) -> bool {
    let uri = request.uri();
    if uri.path_and_query().is_none() || request.method() == http::Method::CONNECT {
        return true;
    }
    match request.version() {
        Version::HTTP_2 | Version::HTTP_3 => false,
        _ => uri.scheme().is_some() || uri.authority().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, uri: &str) -> Request<()> {
        Request::post(uri).version(version).body(()).unwrap()
    }

    #[test]
    fn http2_pseudo_headers_are_not_an_absolute_form_target() {
        assert!(!is_absolute_form(&request(
            Version::HTTP_2,
            "http://gw.example/crm/v8/Leads"
        )));
        assert!(!is_absolute_form(&request(
            Version::HTTP_2,
            "https://gw.example/crm/v8/Leads"
        )));
    }

    #[test]
    fn http11_absolute_form_and_targets_without_a_path_are_refused() {
        assert!(is_absolute_form(&request(
            Version::HTTP_11,
            "http://gw.example/crm/v8/Leads"
        )));
        assert!(!is_absolute_form(&request(
            Version::HTTP_11,
            "/crm/v8/Leads"
        )));
        let connect = Request::connect("gw.example:443").body(()).unwrap();
        assert!(is_absolute_form(&connect));
    }
}
