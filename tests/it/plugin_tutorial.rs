//! The tutorial of plugins/README.md ("Your first institution"), as written there: its final
//! script and case are the files in `examples/tutorial/`, they pass `consentry plugins test`
//! printing what the README shows, and the script connects through a real journey (chooser,
//! consent, its form, the code, `mh:con_id`, the partner API's connection list) with the
//! settings of the README's config block.

use crate::banks::{redeem, BankJourney};
use crate::cli::consentry;
use crate::harness::*;
use crate::partner::{bearer, call};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const README: &str = include_str!("../../plugins/README.md");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tutorial");
const CLAIMS: &str = r#"{"id_token":{"mh:con_id":{"essential":true}}}"#;

/// The fenced block right after `<!-- {marker} -->` in the README's tutorial.
fn block_after(marker: &str) -> String {
    let tag = format!("<!-- {marker} -->\n");
    let rest = &README[README
        .find(&tag)
        .unwrap_or_else(|| panic!("{tag} in the README"))..];
    let body = &rest[rest.find("```").expect("a fenced block after the marker")..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").expect("the block's end")].to_string()
}

fn example(file: &str) -> PathBuf {
    Path::new(EXAMPLE).join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `[plugins.settings.tutorial-bank]` of the README's `tutorial.toml`.
fn readme_settings() -> BTreeMap<String, String> {
    let config: toml::Value = toml::from_str(&block_after("tutorial-config")).expect("TOML");
    config["plugins"]["settings"]["tutorial-bank"]
        .as_table()
        .expect("settings for tutorial-bank")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string setting").to_string()))
        .collect()
}

fn plugins_test(script: &Path, cases: &[PathBuf]) -> (bool, String, String) {
    let mut args = vec!["plugins", "test", script.to_str().unwrap(), "--case"];
    args.extend(cases.iter().map(|c| c.to_str().unwrap()));
    let out = consentry(&args, None);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_readme_tutorial_final_script_and_case_are_the_example_files() {
    assert_eq!(
        block_after("tutorial-final"),
        read(&example("tutorial-bank.rhai")),
        "the README's final script and examples/tutorial/tutorial-bank.rhai must not drift"
    );
    assert_eq!(
        block_after("tutorial-case"),
        read(&example("cases/connect.toml")),
        "the README's case and examples/tutorial/cases/connect.toml must not drift"
    );
}

#[test]
fn the_tutorial_script_passes_its_cases_printing_the_steps_the_readme_shows() {
    let cases = [example("cases/connect.toml"), example("cases/lockout.toml")];
    let (ok, out, err) = plugins_test(&example("tutorial-bank.rhai"), &cases);
    assert!(ok, "plugins test: {out}\n{err}");
    // The README shows the connect case's output for its own path under my-plugins/.
    let shown = README
        .split("--case my-plugins/cases/connect.toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's plugins test output");
    let printed = out.replace(&format!("{EXAMPLE}/"), "my-plugins/");
    assert!(
        printed.contains(shown),
        "the README's printed steps:\n{shown}\nwhat plugins test printed:\n{printed}"
    );
    // The lockout case: three wrong PINs, then the message page, even with the right PIN.
    for line in [
        "step 4  submit(ctx, input) -> form \"Sign in to Tutorial Bank\"",
        "step 5  submit(ctx, input) -> message \"Too many tries\"",
        "text \"This customer number is locked for 10 minutes.\"",
    ] {
        assert!(out.contains(line), "lockout case prints {line:?}: {out}");
    }
    assert_eq!(out.matches("\n  ok\n").count(), 2, "both cases pass: {out}");
}

#[test]
fn plugins_test_fails_a_broken_tutorial_script_naming_the_step() {
    let original = read(&example("tutorial-bank.rhai"));
    let dir = tempfile::tempdir().unwrap();
    let broken = [
        // done without the customer: the case's expected data is missing.
        (
            "#{ done: #{ data: #{ customer: customer } } }",
            "#{ done: #{ data: #{} } }",
            "connect.toml",
        ),
        // No lockout: the fourth try is judged, and the right PIN connects.
        ("if tries > 3 {", "if tries > 99 {", "lockout.toml"),
        // Any PIN is right: the first step connects at once.
        (
            "!constant_time_eq(input.pin, setting(\"pin\"))",
            "false",
            "connect.toml",
        ),
    ];
    for (from, to, case) in broken {
        assert!(original.contains(from), "{from}");
        let script = dir.path().join("tutorial-bank.rhai");
        std::fs::write(&script, original.replace(from, to)).unwrap();
        let (ok, out, err) = plugins_test(&script, &[example(&format!("cases/{case}"))]);
        assert!(!ok, "with {to:?} the case {case} must fail: {out}");
        assert!(
            err.contains("step ") && err.contains("expected"),
            "the failure names the step and what was expected: {err}"
        );
    }
}

/// A server whose plugin folder holds only the README's final script, with its settings.
async fn tutorial_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tutorial-bank.rhai"),
        block_after("tutorial-final"),
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| {
        c.plugins.dir = path;
        c.plugins
            .settings
            .insert("tutorial-bank".into(), readme_settings());
    })
    .await;
    (s, dir)
}

/// The README's browser step up to the script's form: `id:test`, the chooser, consent.
async fn to_the_form(b: &BankJourney<'_>, c: &TestClient, challenge: &str) -> String {
    let i = b
        .start(&auth_params(
            c,
            challenge,
            &[("scope", "openid id:test"), ("claims", CLAIMS)],
        ))
        .await;
    let chooser = b.page(&i).await;
    assert!(
        chooser.contains("value=\"tutorial-bank\"") && chooser.contains("Tutorial Bank"),
        "the chooser lists the tutorial bank: {chooser}"
    );
    b.choose(&i, "tutorial-bank").await;
    let (status, loc) = b.approve(&i, "Tutorial Bank").await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    let form = b.page(&i).await;
    assert!(
        form.contains("Sign in to Tutorial Bank")
            && form.contains("name=\"customer\"")
            && form.contains("name=\"pin\" type=\"password\""),
        "the script's form: {form}"
    );
    i
}

#[tokio::test]
async fn the_tutorial_bank_connects_in_a_real_journey_and_the_partner_api_lists_it() {
    let (s, _dir) = tutorial_server().await;
    let (status, list) = {
        let res = s
            .browser()
            .get(s.url("/.well-known/test-connections"))
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], "tutorial-bank", "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    let c = s.client(json!({"scope": "openid user:read"})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = to_the_form(&b, &c, &challenge).await;
    // A wrong PIN shows the form again with the script's error.
    let (status, loc, _) = b
        .submit(&i, &[("customer", "123456"), ("pin", "0000")])
        .await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    let page = b.page(&i).await;
    assert!(page.contains("Wrong PIN."), "{page}");
    // The README's customer number and the setting's PIN connect: back to the app with a code.
    let pin = &readme_settings()["pin"];
    let (status, cb, _) = b.submit(&i, &[("customer", "123456"), ("pin", pin)]).await;
    assert_eq!(status, 303);
    assert!(cb.starts_with(REDIRECT_URI), "{cb}");
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    let con_id = id["mh:con_id"].as_str().expect("mh:con_id in the ID token");
    let sub = id["sub"].as_str().unwrap();

    let token = bearer(&s, &c, "user:read").await;
    let cons = call(
        &s,
        "GET",
        &format!("/users/{sub}/connections"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(cons.status, 200, "{}", cons.body);
    assert_eq!(cons.body.as_array().unwrap().len(), 1, "{}", cons.body);
    assert_eq!(cons.body[0]["id"], con_id);
    assert_eq!(cons.body[0]["bankId"], "tutorial-bank");
    assert_eq!(cons.body[0]["name"], "Tutorial Bank");
    assert_eq!(cons.body[0]["status"], "active");
}

#[tokio::test]
async fn the_tutorial_bank_locks_a_customer_number_on_its_fourth_try_rfc6749_4_1_2_1_access_denied()
{
    let (s, _dir) = tutorial_server().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = to_the_form(&b, &c, &challenge).await;
    for pin in ["0000", "1111", "2222"] {
        let (_, loc, _) = b.submit(&i, &[("customer", "654321"), ("pin", pin)]).await;
        assert_eq!(loc, i);
    }
    // The fourth try, even with the right PIN, ends on the script's message page.
    let pin = &readme_settings()["pin"];
    let (status, loc, _) = b.submit(&i, &[("customer", "654321"), ("pin", pin)]).await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    let page = b.page(&i).await;
    assert!(
        page.contains("Too many tries") && !page.contains("name=\"pin\""),
        "the message page, no form: {page}"
    );
    let csrf = hidden(&page, "csrf_token").expect("the button's CSRF token");
    let (status, cb, _) =
        b.j.post(
            &format!("{i}/journey"),
            &[("csrf_token", csrf.as_str()), ("action", "continue")],
        )
        .await;
    assert_eq!(status, 303);
    let q = query(&cb);
    assert_eq!(q["error"], "access_denied", "RFC 6749 §4.1.2.1: {cb}");
    assert_eq!(
        q["error_description"],
        "This customer number is locked for 10 minutes."
    );
}

/// The README's browser step in headless Chromium, signed in first (`prompt=login`): the
/// chooser, consent, the script's form, and the connection named by `mh:con_id` is alice's,
/// at the tutorial bank.
#[tokio::test]
async fn the_tutorial_journey_works_in_headless_chromium() {
    let (s, _dir) = tutorial_server().await;
    let c = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let (verifier, challenge) = pkce();
    let mut url = url::Url::parse(&s.url("/auth")).unwrap();
    url.query_pairs_mut().extend_pairs(auth_params(
        &c,
        &challenge,
        &[
            ("scope", "openid id:test"),
            ("prompt", "login"),
            ("claims", CLAIMS),
        ],
    ));
    let out = crate::interop_node::node(
        &s,
        "tutorial_browser.mjs",
        &[
            ("AUTH_URL", url.to_string()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
            ("CUSTOMER", "123456".into()),
            ("PIN", readme_settings()["pin"].clone()),
        ],
    )
    .await;
    assert!(out.contains(" 0 failed"), "{out}");
    let cb = out
        .lines()
        .find_map(|l| l.strip_prefix("CALLBACK "))
        .unwrap_or_else(|| panic!("no CALLBACK line in:\n{out}"));
    let tokens = redeem(&s, &c, cb, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], alice.as_str(), "{id}");
    let con_id = id["mh:con_id"].as_str().expect("mh:con_id").to_string();
    let row = s
        .provider
        .store
        .read(move |tx| tx.connections().get(&con_id))
        .await
        .unwrap()
        .expect("the connection");
    assert_eq!(
        (row.institution_id.as_str(), row.user_id.as_str()),
        ("tutorial-bank", alice.as_str())
    );
}
