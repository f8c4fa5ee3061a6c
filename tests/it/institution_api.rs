//! The institution lists and bank icons as partners read them: `iconUrl` only where an icon
//! answers, `parentRef` as the contract's deprecated copy of `bankRef`, and icons revalidated
//! by a strong `ETag` so that an icon reloaded from `plugins/` is served fresh at once.

use crate::harness::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

async fn institutions(s: &TestServer) -> Vec<Value> {
    let res = s
        .browser()
        .get(s.url("/.well-known/all-connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn by_id<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {list:?}"))
}

async fn get_icon(s: &TestServer, url: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut req = s.browser().get(url);
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    req.send().await.unwrap()
}

fn etag(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_string()
}

fn institution(id: &str, bank_ref: &str, icon: Option<&str>) -> String {
    let icon = icon.map(|i| format!(", icon: \"{i}\"")).unwrap_or_default();
    format!(
        r#"fn institution() {{
    #{{ id: "{id}", name: "{id}", type: "test", bankRef: "{bank_ref}"{icon} }}
}}

fn connect(ctx) {{
    #{{ fail: "not used" }}
}}
"#
    )
}

fn svg(label: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><title>{label}</title></svg>"#
    )
}

async fn start_with_plugins(dir: &Path) -> TestServer {
    let dir = dir.to_path_buf();
    TestServer::start_with(move |c| {
        c.plugins.dir = dir;
        c.plugins.reload_interval_ms = 100;
    })
    .await
}

#[tokio::test]
async fn contract_icon_url_is_published_only_where_an_icon_answers() {
    let s = TestServer::start().await;
    let list = institutions(&s).await;
    // Contract (Bank connections): "we don't have icons for all the connections we provide":
    // sandbox-otp has none, so its entry carries no iconUrl (it would answer 404).
    let otp = by_id(&list, "sandbox-otp");
    assert!(
        otp.get("iconUrl").is_none(),
        "contract_bank_connections_iconUrl: an icon-less institution has no iconUrl: {otp}"
    );
    let otp_icon = get_icon(&s, &format!("{}/bank-icons/sandbox-otp", s.base), None).await;
    assert_eq!(otp_icon.status(), 404, "and its icon route says so");
    let bank = by_id(&list, "sandbox-bank");
    assert_eq!(
        bank["iconUrl"],
        format!("{}/bank-icons/sandbox-bank", s.base)
    );
    // Every published iconUrl answers 200 with an SVG.
    for i in &list {
        // Contract: parentRef is deprecated in favour of bankRef, and the same value.
        assert_eq!(i["parentRef"], i["bankRef"], "parentRef is bankRef: {i}");
        if let Some(url) = i["iconUrl"].as_str() {
            let res = get_icon(&s, url, None).await;
            assert_eq!(res.status(), 200, "{url}");
            assert_eq!(res.headers()["content-type"], "image/svg+xml");
        }
    }

    // The OpenAPI document says the same: iconUrl optional, parentRef deprecated.
    let doc: Value = s
        .browser()
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &doc["components"]["schemas"]["Institution"];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!required.contains(&"iconUrl"), "{required:?}");
    assert!(required.contains(&"parentRef"), "{required:?}");
    assert_eq!(schema["properties"]["parentRef"]["deprecated"], true);
}

#[tokio::test]
async fn rfc9110_13_1_2_if_none_match_with_the_current_etag_answers_304() {
    let s = TestServer::start().await;
    let url = format!("{}/bank-icons/sandbox-bank", s.base);
    let first = get_icon(&s, &url, None).await;
    assert_eq!(first.status(), 200);
    // RFC 9111 §5.2.2.4: no-cache, so a cache revalidates before each use.
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let tag = etag(&first);
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 40,
        "rfc9110_8_8_3: a strong, quoted entity tag (the content hash): {tag}"
    );
    let body = first.bytes().await.unwrap();
    assert_eq!(
        etag(&get_icon(&s, &url, None).await),
        tag,
        "the same bytes, the same tag"
    );

    // RFC 9110 §13.1.2: the current tag (alone, in a list, weakly compared, or `*`) → 304,
    // with the same validator and cache directives and no body (§15.4.5).
    for header in [
        tag.clone(),
        format!("\"something-else\", {tag}"),
        format!("W/{tag}"),
        "*".to_string(),
    ] {
        let res = get_icon(&s, &url, Some(&header)).await;
        assert_eq!(
            res.status(),
            304,
            "rfc9110_13_1_2_if_none_match matches {header}"
        );
        assert_eq!(etag(&res), tag);
        assert_eq!(res.headers()["cache-control"], "no-cache");
        assert!(res.bytes().await.unwrap().is_empty(), "304 has no body");
    }
    // Another tag does not match: the icon itself.
    let res = get_icon(&s, &url, Some("\"something-else\"")).await;
    assert_eq!(res.status(), 200, "rfc9110_13_1_2: no tag matches");
    assert_eq!(res.bytes().await.unwrap(), body);

    // The generic icon is served the same way, and a missing icon stays 404.
    let default = get_icon(&s, &format!("{}/bank-icons/default", s.base), None).await;
    assert_eq!(default.status(), 200);
    let default_tag = etag(&default);
    assert_ne!(default_tag, tag);
    let res = get_icon(
        &s,
        &format!("{}/bank-icons/no-such-bank?defaultIcon=true", s.base),
        Some(&default_tag),
    )
    .await;
    assert_eq!(res.status(), 304, "the fallback is the generic icon");
    let res = get_icon(
        &s,
        &format!("{}/bank-icons/no-such-bank", s.base),
        Some("*"),
    )
    .await;
    assert_eq!(
        res.status(),
        404,
        "rfc9110_13_1_2: `*` matches no absent icon"
    );
}

#[tokio::test]
async fn an_icon_reloaded_from_plugins_is_served_fresh_with_a_new_etag() {
    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, text: &str| std::fs::write(dir.path().join(file), text).unwrap();
    // Two institutions of one bankRef, only one with an icon; a third without any.
    write("acme-cards.rhai", &institution("acme-cards", "acme", None));
    write(
        "acme-current.rhai",
        &institution("acme-current", "acme", Some("acme.svg")),
    );
    write("acme.svg", &svg("Acme v1"));
    write("plain.rhai", &institution("plain", "plain", None));
    let s = start_with_plugins(dir.path()).await;

    let list = institutions(&s).await;
    let icon_url = format!("{}/bank-icons/acme", s.base);
    for id in ["acme-cards", "acme-current"] {
        assert_eq!(
            by_id(&list, id)["iconUrl"],
            icon_url.as_str(),
            "an icon of the same bankRef serves {id} too"
        );
    }
    assert!(by_id(&list, "plain").get("iconUrl").is_none());

    let v1 = get_icon(&s, &icon_url, None).await;
    assert_eq!(v1.status(), 200);
    let v1_tag = etag(&v1);
    assert!(v1.text().await.unwrap().contains("Acme v1"));

    // The icon file changes on disk: within the reload interval the cached copy's tag no
    // longer matches, and the new icon comes with a new tag.
    write("acme.svg", &svg("Acme version two"));
    let until = Instant::now() + Duration::from_secs(15);
    let fresh = loop {
        let res = get_icon(&s, &icon_url, Some(&v1_tag)).await;
        if res.status() == 200 {
            break res;
        }
        assert_eq!(res.status(), 304);
        assert!(Instant::now() < until, "the changed icon was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let v2_tag = etag(&fresh);
    assert_ne!(v2_tag, v1_tag, "a changed icon has a new tag");
    assert!(fresh.text().await.unwrap().contains("Acme version two"));
    let res = get_icon(&s, &icon_url, Some(&v2_tag)).await;
    assert_eq!(res.status(), 304, "rfc9110_13_1_2: the new tag now matches");
}
