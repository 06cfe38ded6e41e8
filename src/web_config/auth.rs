//! `basic_auth_users` and `http_server_config.headers` as an actix middleware in front of
//! every route. bcrypt checks (tens of ms each by design) run on the blocking pool, never on
//! an HTTP worker, and their outcome is cached as exporter-toolkit caches it, so a scraper
//! sending the same credentials every 15 s pays for one check. Users and headers are taken
//! from the file as it is now ([`Live`]), as exporter-toolkit re-reads it per request.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use parking_lot::Mutex;

use super::reload::Live;

/// Cached outcomes kept at most; the cache is emptied when full (simple, and bounded).
const CACHE_ENTRIES: usize = 1024;

/// What the middleware enforces.
pub struct WebGuard {
    live: Arc<Live>,
    /// Keyed by a keyed (per-process random) hash of user, password and stored hash, so no
    /// password is kept in memory.
    cache: Mutex<HashMap<u64, bool>>,
    keys: std::collections::hash_map::RandomState,
    /// A bcrypt hash checked for unknown users, so that their answer takes as long as a
    /// wrong password's.
    dummy: String,
}

impl WebGuard {
    /// The guard for `live`; `None` when the configuration is fixed (not read from a file)
    /// and asks for neither auth nor headers. A file-backed one always gets a guard, since
    /// users may be added to the file later.
    pub fn new(live: Arc<Live>) -> Option<WebGuard> {
        let needed = match live.current() {
            Ok(c) => {
                c.source.is_some()
                    || !c.basic_auth_users.is_empty()
                    || !c.http_server_config.headers.is_empty()
            }
            Err(_) => true,
        };
        if !needed {
            return None;
        }
        Some(WebGuard {
            live,
            cache: Mutex::new(HashMap::new()),
            keys: std::collections::hash_map::RandomState::new(),
            dummy: bcrypt::hash("fedstore: no such user", bcrypt::DEFAULT_COST).unwrap_or_default(),
        })
    }

    /// Whether `authorization` (the header's value) names one of `users` with its password.
    pub async fn allowed(
        &self,
        users: &BTreeMap<String, String>,
        authorization: Option<&str>,
    ) -> bool {
        if users.is_empty() {
            return true;
        }
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (hash, known) = match users.get(&user) {
            Some(h) => (h.clone(), true),
            None => (self.dummy.clone(), false),
        };
        let key = self.keys.hash_one((&user, &pass, &hash));
        if let Some(&ok) = self.cache.lock().get(&key) {
            return ok && known;
        }
        let ok = web::block(move || bcrypt::verify(pass, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, ok);
        ok && known
    }
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(h: &str) -> Option<(String, String)> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64_decode(rest.trim())?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// Standard base64 with padding (RFC 4648), as HTTP basic auth sends it.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, q) in b.chunks(4).enumerate() {
        let last = i == b.len() / 4 - 1;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// The middleware: 401 with `WWW-Authenticate: Basic` without valid credentials; the
/// configured headers on every answer, refusals included.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(g) = req.app_data::<web::Data<WebGuard>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let cfg = match g.live.current() {
        Ok(c) => c,
        Err(_) => {
            // exporter-toolkit answers 500 while the file is unusable (logged by `Live`).
            let resp = HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("Internal Server Error\n");
            return Ok(req.into_response(resp));
        }
    };
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut res = if g.allowed(&cfg.basic_auth_users, auth.as_deref()).await {
        next.call(req).await?.map_into_boxed_body()
    } else {
        let resp = HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Basic"))
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("Unauthorized\n");
        req.into_response(resp)
    };
    for (k, v) in &cfg.http_server_config.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            res.headers_mut().insert(k, v);
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("Basic YWxpY2U6czNjcmV0", Some(("alice", "s3cret"))),
            ("basic YWxpY2U6", Some(("alice", ""))),
            ("Basic YTpiOmM=", Some(("a", "b:c"))),
            ("Bearer YWxpY2U6czNjcmV0", None),
            ("Basic !!!!", None),
            ("Basic YWxpY2U", None),
            ("Basic bm9jb2xvbg==", None),
        ];
        for (h, want) in cases {
            let got = parse_basic(h);
            assert_eq!(
                got.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
                *want,
                "{h}"
            );
        }
    }

    #[test]
    fn checks_bcrypt_and_caches() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let cfg = super::super::WebConfig {
            basic_auth_users: [("alice".to_owned(), hash)].into(),
            ..super::super::WebConfig::default()
        };
        let users = cfg.basic_auth_users.clone();
        let g = WebGuard::new(Arc::new(Live::new(Arc::new(cfg)))).unwrap();
        let rt = actix_web::rt::System::new();
        rt.block_on(async {
            let cases: &[(Option<&str>, bool)] = &[
                (Some("Basic YWxpY2U6czNjcmV0"), true),  // alice:s3cret
                (Some("Basic YWxpY2U6d3Jvbmc="), false), // alice:wrong
                (Some("Basic Ym9iOnMzY3JldA=="), false), // bob:s3cret
                (None, false),
                (Some("Basic YWxpY2U6czNjcmV0"), true), // cached
            ];
            for (h, want) in cases {
                assert_eq!(g.allowed(&users, *h).await, *want, "{h:?}");
            }
        });
        assert_eq!(g.cache.lock().len(), 3);
    }
}
