//! The OpenAPI document served at `/support-access/v1/openapi.json` passes a real
//! validator (`openapi-spec-validator`, installed by `scripts/install-openapi-validator.sh`,
//! which `.ci/run` calls), and names how each operation is authenticated.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

use serde_json::Value;

const VALIDATOR: &str = "openapi-spec-validator";

#[test]
fn the_openapi_document_passes_openapi_spec_validator() {
    let doc = support_gateway::management::openapi_json();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let output = match Command::new(VALIDATOR).arg(&file).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "`{VALIDATOR}` could not be run ({e}); install it with \
             `bash scripts/install-openapi-validator.sh` (CI does so in .ci/run)"
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{VALIDATOR} refused the document:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("OK"), "{stdout}\n{stderr}");
}

#[test]
fn the_validator_really_refuses_a_broken_document() {
    // The check above can fail: a response without a description is refused.
    let mut doc = support_gateway::management::openapi_json();
    let responses = doc["paths"]["/support-access/v1/grant"]["get"]["responses"]
        .as_object_mut()
        .unwrap();
    for response in responses.values_mut() {
        response.as_object_mut().unwrap().remove("description");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let output = Command::new(VALIDATOR)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("`{VALIDATOR}` could not be run ({e}); run scripts/install-openapi-validator.sh")
        });
    assert!(!output.status.success(), "a broken document was accepted");
}

fn security_of(doc: &Value, method: &str, path: &str) -> Vec<String> {
    doc["paths"][path][method]["security"]
        .as_array()
        .map(|list| {
            list.iter()
                .flat_map(|req| req.as_object().unwrap().keys().cloned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_operation_names_its_security_scheme_and_every_response_is_described() {
    let doc = support_gateway::management::openapi_json();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for name in ["customer_admin", "support_staff"] {
        assert_eq!(schemes[name]["type"], "http", "{name}");
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
        assert_eq!(schemes[name]["bearerFormat"], "JWT", "{name}");
    }
    let v1 = "/support-access/v1";
    assert_eq!(
        security_of(&doc, "post", &format!("{v1}/grant")),
        ["customer_admin"]
    );
    assert_eq!(
        security_of(&doc, "get", &format!("{v1}/audit")),
        ["customer_admin"]
    );
    assert_eq!(
        security_of(&doc, "post", &format!("{v1}/token")),
        ["support_staff"]
    );
    assert!(security_of(&doc, "get", &format!("{v1}/jwks.json")).is_empty());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let description = response["description"].as_str().unwrap_or("");
                assert!(
                    !description.trim().is_empty(),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
}
