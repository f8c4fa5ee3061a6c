//! HTTP for the runner: a back-channel client (token, UserInfo, discovery) and a browser with
//! a cookie jar that walks the provider's pages, logs in and consents through the forms it is
//! served, and stops at the redirect to the client's redirect_uri without following it.

use crate::config::User;
use crate::form;
use std::collections::BTreeMap;
use url::Url;

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    pub cache_control: Option<String>,
    /// Every response header (lower-case names; the last value of a repeated header).
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// A CA every client of the runner trusts besides the provider's: the runner's own server's
/// (its https logout and notification URIs, which the browser loads too).
static EXTRA_ROOT: std::sync::OnceLock<reqwest::Certificate> = std::sync::OnceLock::new();

/// Trusts `ca` in every client made from now on.
pub fn trust_also(ca: reqwest::Certificate) {
    let _ = EXTRA_ROOT.set(ca);
}

pub fn client(ca: Option<&reqwest::Certificate>, cookies: bool) -> reqwest::Client {
    client_with_identity(ca, cookies, None)
}

/// A client that presents `identity` (a TLS client certificate) on every connection.
pub fn client_with_identity(
    ca: Option<&reqwest::Certificate>,
    cookies: bool,
    identity: Option<reqwest::Identity>,
) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        // A provider may close a keep-alive connection that waits for a request (the
        // header-read timeout, 10 s by default): a pooled connection is only reused while
        // that cannot have happened, so a slow login never leaves the next call on a dead one.
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .cookie_store(cookies)
        .user_agent("consentry-conformance");
    if let Some(ca) = ca {
        b = b.add_root_certificate(ca.clone());
    }
    if let Some(ca) = EXTRA_ROOT.get() {
        b = b.add_root_certificate(ca.clone());
    }
    if let Some(id) = identity {
        b = b.identity(id);
    }
    b.build().expect("http client")
}

pub async fn send(rb: reqwest::RequestBuilder) -> Result<Resp, String> {
    let (client, req) = rb.build_split();
    let req = req.map_err(|e| format!("request failed: {e}"))?;
    // A kept-alive connection the server closes as the request goes out fails the send; an
    // idempotent request is sent again once on a new connection, as browsers do
    // (RFC 9110 §9.2.2).
    let again = if req.method() == reqwest::Method::GET {
        req.try_clone()
    } else {
        None
    };
    let res = match (client.execute(req).await, again) {
        (Ok(r), _) => r,
        (Err(e), Some(again)) if e.is_request() => client
            .execute(again)
            .await
            .map_err(|e| format!("request failed: {e}"))?,
        (Err(e), _) => return Err(format!("request failed: {e}")),
    };
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = res.status().as_u16();
    let location = header("location");
    let content_type = header("content-type").unwrap_or_default();
    let www_authenticate = header("www-authenticate");
    let cache_control = header("cache-control");
    let headers = res
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = res.text().await.map_err(|e| format!("reading body: {e}"))?;
    Ok(Resp {
        status,
        location,
        content_type,
        www_authenticate,
        cache_control,
        headers,
        body,
    })
}

/// Where a browser visit ended.
#[derive(Debug, Clone)]
pub enum Landing {
    /// Sent to the client's redirect_uri: the URL and, for form_post, the posted fields.
    Callback {
        url: Url,
        query: BTreeMap<String, String>,
        fragment: BTreeMap<String, String>,
        form: Option<BTreeMap<String, String>>,
    },
    /// A page the browser could not (or was told not to) go past: an error page, or a login
    /// page when no user may log in.
    Page {
        status: u16,
        url: String,
        body: String,
    },
}

#[derive(Debug, Clone)]
pub struct Visit {
    pub landing: Landing,
    pub login_pages: u32,
    pub consent_pages: u32,
}

pub struct Browser {
    pub http: reqwest::Client,
}

fn pairs(s: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(s.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn is_callback(url: &Url, redirect_uri: &Url) -> bool {
    url.scheme() == redirect_uri.scheme()
        && url.host_str() == redirect_uri.host_str()
        && url.port_or_known_default() == redirect_uri.port_or_known_default()
        && url.path() == redirect_uri.path()
}

enum Next {
    Get(Url),
    Post(Url, Vec<(String, String)>),
}

impl Browser {
    pub fn new(ca: Option<&reqwest::Certificate>) -> Browser {
        Browser {
            http: client(ca, true),
        }
    }

    /// Opens `start` and follows the provider's pages. With a `user`, login forms are filled
    /// and consent is given; without one, the visit stops at the first page with a form.
    pub async fn visit(
        &self,
        start: Url,
        redirect_uri: &str,
        user: Option<&User>,
    ) -> Result<Visit, String> {
        self.visit_deciding(start, redirect_uri, user, "approve")
            .await
    }

    /// `visit`, answering the consent page with `decision` (`approve` or `deny`, the user
    /// cancelling).
    pub async fn visit_deciding(
        &self,
        start: Url,
        redirect_uri: &str,
        user: Option<&User>,
        decision: &str,
    ) -> Result<Visit, String> {
        let redirect_uri = Url::parse(redirect_uri).map_err(|e| format!("redirect_uri: {e}"))?;
        let (mut login_pages, mut consent_pages) = (0, 0);
        let mut next = Next::Get(start);
        for _ in 0..20 {
            let (url, resp) = match next {
                Next::Get(u) => (u.clone(), send(self.http.get(u)).await?),
                Next::Post(u, fields) => (u.clone(), send(self.http.post(u).form(&fields)).await?),
            };
            if (300..400).contains(&resp.status) {
                let loc = resp
                    .location
                    .as_deref()
                    .ok_or("redirect without Location")?;
                let target = url
                    .join(loc)
                    .map_err(|e| format!("bad Location {loc}: {e}"))?;
                if is_callback(&target, &redirect_uri) {
                    return Ok(Visit {
                        landing: Landing::Callback {
                            query: pairs(target.query()),
                            fragment: pairs(target.fragment()),
                            url: target,
                            form: None,
                        },
                        login_pages,
                        consent_pages,
                    });
                }
                next = Next::Get(target);
                continue;
            }
            let forms = form::forms(&resp.body);
            // response_mode=form_post: a self-submitting form to the redirect_uri.
            if let Some(f) = forms.iter().find(|f| {
                url.join(&f.action)
                    .map(|a| is_callback(&a, &redirect_uri))
                    .unwrap_or(false)
            }) {
                let target = url.join(&f.action).map_err(|e| e.to_string())?;
                return Ok(Visit {
                    landing: Landing::Callback {
                        query: pairs(target.query()),
                        fragment: BTreeMap::new(),
                        url: target,
                        form: Some(f.fields.iter().cloned().collect()),
                    },
                    login_pages,
                    consent_pages,
                });
            }
            let page = Landing::Page {
                status: resp.status,
                url: url.to_string(),
                body: resp.body.clone(),
            };
            let Some(user) = user.filter(|_| resp.status == 200) else {
                return Ok(Visit {
                    landing: page,
                    login_pages: login_pages + u32::from(is_login(&forms)),
                    consent_pages,
                });
            };
            if let Some(f) = forms
                .iter()
                .find(|f| f.has_field("password") && f.method == "post")
            {
                login_pages += 1;
                // The user cancels on the login page (its own Cancel button, which may post
                // elsewhere than the form's action).
                if let Some((_, _, action)) = f
                    .button("decision", decision)
                    .filter(|_| decision == "deny")
                {
                    let mut fields = f.fields.clone();
                    fields.push(("decision".into(), decision.into()));
                    let action = action.clone().unwrap_or(f.action.clone());
                    let target = url.join(&action).map_err(|e| e.to_string())?;
                    next = Next::Post(target, fields);
                    continue;
                }
                let mut f = f.clone();
                f.set("username", &user.username);
                f.set("password", &user.password);
                let target = url.join(&f.action).map_err(|e| e.to_string())?;
                next = Next::Post(target, f.fields);
                continue;
            }
            if let Some(f) = forms
                .iter()
                .find(|f| f.button("decision", decision).is_some())
            {
                consent_pages += 1;
                let mut fields = f.fields.clone();
                fields.push(("decision".into(), decision.into()));
                let target = url.join(&f.action).map_err(|e| e.to_string())?;
                next = Next::Post(target, fields);
                continue;
            }
            return Ok(Visit {
                landing: page,
                login_pages,
                consent_pages,
            });
        }
        Err("more than 20 pages without reaching the redirect_uri".into())
    }
}

fn is_login(forms: &[form::Form]) -> bool {
    forms.iter().any(|f| f.has_field("password"))
}

/// Where a visit to the end-session endpoint ended, and the front-channel logout iframes the
/// browser loaded on the way (OpenID Front-Channel Logout 1.0 §3).
#[derive(Debug, Clone)]
pub struct LogoutVisit {
    pub landing: Landing,
    /// Each iframe URL loaded, with the HTTP status it answered (or the error).
    pub iframes: Vec<(String, Result<u16, String>)>,
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Browser {
    /// Opens `start` (the end-session endpoint) and follows the provider's redirects and
    /// pages as a browser without script would: every iframe of a page is loaded, and a
    /// `<meta http-equiv="refresh">` is followed. Stops at the first URL on the relying
    /// party's origin `rp` (not requested: the module reads it), or at a page that goes
    /// nowhere by itself (an error page, a confirmation form, the logged-out page).
    pub async fn logout_visit(&self, start: Url, rp: &Url) -> Result<LogoutVisit, String> {
        self.logout_walk(Next::Get(start), rp).await
    }

    /// Submits a page's confirmation form (the user says yes to logging out: its log-out
    /// button, else its first submit button that does not decline), then goes on as
    /// `logout_visit`.
    pub async fn confirm_logout(
        &self,
        page_url: &str,
        body: &str,
        rp: &Url,
    ) -> Result<LogoutVisit, String> {
        let page = Url::parse(page_url).map_err(|e| format!("page URL: {e}"))?;
        let forms = form::forms(body);
        let f = forms
            .iter()
            .find(|f| f.method == "post")
            .ok_or("the page has no form to confirm the logout with")?;
        let mut fields = f.fields.clone();
        // The button that logs out: one named so, else the first that does not decline.
        let declines = |v: &str| {
            let v = v.to_ascii_lowercase();
            ["cancel", "deny", "stay", "keep"]
                .iter()
                .any(|w| v.contains(w))
                || v == "no"
        };
        let button = f
            .buttons
            .iter()
            .find(|(_, v, _)| {
                let v = v.to_ascii_lowercase().replace([' ', '_', '-'], "");
                v.contains("logout") || v.contains("signout")
            })
            .or_else(|| f.buttons.iter().find(|(_, v, _)| !declines(v)));
        let mut action = f.action.clone();
        if let Some((name, value, formaction)) = button {
            if !name.is_empty() {
                fields.push((name.clone(), value.clone()));
            }
            if let Some(a) = formaction {
                action = a.clone();
            }
        }
        let target = page.join(&action).map_err(|e| e.to_string())?;
        self.logout_walk(Next::Post(target, fields), rp).await
    }

    async fn logout_walk(&self, mut next: Next, rp: &Url) -> Result<LogoutVisit, String> {
        let mut iframes = Vec::new();
        for _ in 0..20 {
            let (url, resp) = match next {
                Next::Get(u) => (u.clone(), send(self.http.get(u)).await?),
                Next::Post(u, fields) => (u.clone(), send(self.http.post(u).form(&fields)).await?),
            };
            let onward = if (300..400).contains(&resp.status) {
                let loc = resp
                    .location
                    .as_deref()
                    .ok_or("redirect without Location")?;
                Some(
                    url.join(loc)
                        .map_err(|e| format!("bad Location {loc}: {e}"))?,
                )
            } else {
                for src in form::iframe_srcs(&resp.body) {
                    let Ok(u) = url.join(&src) else {
                        iframes.push((src, Err("not a URL".to_string())));
                        continue;
                    };
                    let r = send(self.http.get(u.clone())).await.map(|r| r.status);
                    iframes.push((u.to_string(), r));
                }
                match form::meta_refresh(&resp.body) {
                    Some(m) => Some(url.join(&m).map_err(|e| format!("bad refresh {m}: {e}"))?),
                    None => None,
                }
            };
            let Some(target) = onward else {
                return Ok(LogoutVisit {
                    landing: Landing::Page {
                        status: resp.status,
                        url: url.to_string(),
                        body: resp.body,
                    },
                    iframes,
                });
            };
            if same_origin(&target, rp) {
                return Ok(LogoutVisit {
                    landing: Landing::Callback {
                        query: pairs(target.query()),
                        fragment: pairs(target.fragment()),
                        url: target,
                        form: None,
                    },
                    iframes,
                });
            }
            next = Next::Get(target);
        }
        Err("more than 20 pages after the end-session endpoint".into())
    }
}
