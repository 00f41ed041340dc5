//! The Internet as the crawler sees it: DNS and HTTP behind the
//! [`DnsServer`] and [`HtmlFetcher`] traits. [`GeneratedWeb`] is the default
//! workload, deterministic and with its link graph known exactly (for the
//! tests' breadth-first search); [`LocalSite`] serves a directory of real
//! HTML files.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::{
    Config, DnsAnswer, DnsServer, Error, HtmlFetcher, Response, Url, MS, NS_PER_BYTE, SEC,
};
use crate::common::{fortunes, Rng};

/// Content pages per section of a generated host.
const PER_SECTION: u32 = 40;

/// One request as the web's servers logged it.
#[derive(Clone, Debug)]
pub struct Access {
    pub host: String,
    pub url: String,
    pub start: u64,
    pub end: u64,
    pub status: u16,
}

/// Where a URL of the generated web leads (the exact BFS's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// A page is served (an original, a mirror copy or an alias).
    Page,
    /// The host exists but the path does not: 404.
    NotFound,
    /// DNS does not know the host.
    DeadHost,
}

/// How a same-site or cross-site link is spelled in the HTML.
#[derive(Clone, Copy, Debug)]
enum Form {
    Absolute,
    /// Absolute, host in capitals.
    Shouting,
    SchemeRelative,
    RootRelative,
    Relative,
    RelativeFragment,
}

/// A link as the generator knows it (rendered into an `href` when served).
#[derive(Clone, Copy, Debug)]
enum Link {
    Page {
        page: u32,
        form: Form,
    },
    /// The page with a tracking query: same content, other URL.
    Alias {
        page: u32,
        r: u16,
    },
    /// A mirror host's copy of an origin page.
    Mirror {
        mirror: u16,
        page: u32,
    },
    Broken {
        section: u32,
        r: u16,
    },
    Dead {
        dead: u16,
        r: u16,
    },
    /// A link the URL filter must drop (scheme, blacklist, robots, extension).
    Blocked {
        kind: u8,
        r: u16,
    },
}

#[derive(Clone, Copy, Debug)]
enum PageKind {
    Home,
    Terms,
    Section(u32),
    Content(u32),
}

struct PageSpec {
    host: u16,
    kind: PageKind,
    text: u32,
    paragraphs: u32,
    links: Vec<Link>,
}

enum Site {
    Origin {
        first: u32,
        sections: u32,
        contents: u32,
        /// Pages written with absolute links only (they are mirrored).
        absolute: bool,
    },
    Mirror {
        of: u16,
    },
}

struct HostSpec {
    name: String,
    ip: Ipv4Addr,
    ttl: u64,
    rtt: u64,
    site: Site,
}

/// A deterministic web: origin hosts of skewed sizes, mirror hosts, dead
/// hosts, and pages rendered on request. It is the crawler's DNS and HTTP,
/// logs every request, and knows its own link graph exactly.
///
/// The crawler does not read the links of a duplicate document (the notes
/// drop it), so every copy carries the same links as its original: a
/// mirrored host writes only absolute links, an alias differs only in its
/// query (relative links resolve alike), and the terms page has none. That
/// is what makes [`reachable`](Self::reachable), a search over the link
/// lists that ignores content, the exact answer to what the crawl can reach.
pub struct GeneratedWeb {
    texts: Vec<String>,
    hosts: Vec<HostSpec>,
    by_name: HashMap<String, u16>,
    dead: Vec<String>,
    pages: Vec<PageSpec>,
    origins: usize,
    /// Every request served, in order.
    pub log: Vec<Access>,
    /// Lookups the DNS answered (hits of the resolvers' caches never get here).
    pub dns_queries: usize,
}

impl GeneratedWeb {
    pub fn new(cfg: &Config) -> Result<GeneratedWeb, Error> {
        if cfg.hosts == 0 || cfg.pages == 0 || cfg.hosts > 60_000 {
            return Err(Error::EmptyWeb);
        }
        let mut rng = Rng(cfg.seed);
        let texts: Vec<String> = fortunes().iter().map(|t| escape_html(t)).collect();
        let n = cfg.hosts;
        // Host sizes ~ 1/sqrt(rank), in a shuffled order.
        let weights: Vec<f64> = (0..n).map(|i| 1.0 / ((i + 1) as f64).sqrt()).collect();
        let total: f64 = weights.iter().sum();
        let mut sizes: Vec<u32> = weights
            .iter()
            .map(|w| ((cfg.pages as f64 * w / total).round() as u32).max(1))
            .collect();
        rng.shuffle(&mut sizes);
        let mirrors = cfg.mirror_hosts.min(n.saturating_sub(cfg.seeds));
        let mut mirrored: Vec<u16> = (cfg.seeds.min(n)..n).map(|h| h as u16).collect();
        rng.shuffle(&mut mirrored);
        mirrored.truncate(mirrors);

        let mut hosts = Vec::new();
        let mut pages = Vec::new();
        let big = (cfg.large_bytes / 170).max(1) as u32;
        for (h, &contents) in sizes.iter().enumerate() {
            let sections = contents.div_ceil(PER_SECTION);
            let first = pages.len() as u32;
            let mut page = |rng: &mut Rng, kind, paragraphs| {
                let text = rng.below(texts.len()) as u32;
                pages.push(PageSpec {
                    host: h as u16,
                    kind,
                    text,
                    paragraphs,
                    links: Vec::new(),
                });
            };
            page(&mut rng, PageKind::Home, 1);
            page(&mut rng, PageKind::Terms, 1);
            for j in 0..sections {
                page(&mut rng, PageKind::Section(j), 1);
            }
            for k in 0..contents {
                let paragraphs = if rng.chance(cfg.large_share) {
                    big
                } else {
                    1 + rng.below(4) as u32
                };
                page(&mut rng, PageKind::Content(k), paragraphs);
            }
            hosts.push(HostSpec {
                name: format!("site{h}.example"),
                ip: host_ip(h),
                ttl: (60 + rng.below(241) as u64) * SEC,
                rtt: (20 + rng.below(181) as u64) * MS,
                site: Site::Origin {
                    first,
                    sections,
                    contents,
                    absolute: mirrored.contains(&(h as u16)),
                },
            });
        }
        for (m, &of) in mirrored.iter().enumerate() {
            let h = hosts.len();
            hosts.push(HostSpec {
                name: format!("mirror{m}.example"),
                ip: host_ip(h),
                ttl: (60 + rng.below(241) as u64) * SEC,
                rtt: (20 + rng.below(181) as u64) * MS,
                site: Site::Mirror { of },
            });
        }
        let by_name = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.clone(), i as u16))
            .collect();
        let mut web = GeneratedWeb {
            texts,
            hosts,
            by_name,
            dead: (0..cfg.dead_hosts)
                .map(|d| format!("gone{d}.example"))
                .collect(),
            pages,
            origins: n,
            log: Vec::new(),
            dns_queries: 0,
        };
        web.wire(&mut rng, &mirrored);
        Ok(web)
    }

    /// Draws every page's links.
    fn wire(&mut self, rng: &mut Rng, mirrored: &[u16]) {
        let origins = self.origins;
        let mirrors = mirrored.len();
        let dead = self.dead.len();
        for p in 0..self.pages.len() {
            let (h, kind) = (self.pages[p].host, self.pages[p].kind);
            let Site::Origin {
                first,
                sections,
                contents,
                absolute,
            } = self.hosts[h as usize].site
            else {
                continue;
            };
            let form = |rng: &mut Rng, cross: bool| {
                if absolute || cross {
                    [
                        Form::Absolute,
                        Form::Absolute,
                        Form::Shouting,
                        Form::SchemeRelative,
                    ][rng.below(4)]
                } else {
                    [
                        Form::Absolute,
                        Form::RootRelative,
                        Form::Relative,
                        Form::Relative,
                        Form::RelativeFragment,
                    ][rng.below(5)]
                }
            };
            let content = |k: u32| first + 2 + sections + k;
            let mut links = Vec::new();
            match kind {
                PageKind::Home => {
                    links.push(Link::Page {
                        page: first + 1,
                        form: form(rng, false),
                    });
                    for j in 0..sections {
                        links.push(Link::Page {
                            page: first + 2 + j,
                            form: form(rng, false),
                        });
                    }
                    for _ in 0..2 {
                        let other = rng.below(origins);
                        links.push(Link::Page {
                            page: self.home_of(other),
                            form: form(rng, true),
                        });
                    }
                }
                PageKind::Terms => {}
                PageKind::Section(j) => {
                    links.push(Link::Page {
                        page: first,
                        form: form(rng, false),
                    });
                    let end = ((j + 1) * PER_SECTION).min(contents);
                    for k in j * PER_SECTION..end {
                        // Some pages are orphans: no section lists them.
                        if !rng.chance(0.1) {
                            links.push(Link::Page {
                                page: content(k),
                                form: form(rng, false),
                            });
                        }
                    }
                }
                PageKind::Content(k) => {
                    let j = k / PER_SECTION;
                    links.push(Link::Page {
                        page: first,
                        form: form(rng, false),
                    });
                    links.push(Link::Page {
                        page: first + 2 + j,
                        form: form(rng, false),
                    });
                    for _ in 0..3 {
                        links.push(Link::Page {
                            page: content(rng.below(contents as usize) as u32),
                            form: form(rng, false),
                        });
                    }
                    if rng.chance(0.35) {
                        let other = rng.below(origins);
                        links.push(Link::Page {
                            page: self.random_page_of(other, rng),
                            form: form(rng, true),
                        });
                    }
                    if mirrors > 0 && rng.chance(0.04) {
                        let m = rng.below(mirrors);
                        links.push(Link::Mirror {
                            mirror: (origins + m) as u16,
                            page: self.random_page_of(mirrored[m] as usize, rng),
                        });
                    }
                    if rng.chance(0.05) {
                        links.push(Link::Alias {
                            page: content(rng.below(contents as usize) as u32),
                            r: rng.below(3) as u16,
                        });
                    }
                    if rng.chance(0.05) {
                        links.push(Link::Broken {
                            section: j,
                            r: rng.below(6) as u16,
                        });
                    }
                    if dead > 0 && rng.chance(0.01) {
                        links.push(Link::Dead {
                            dead: rng.below(dead) as u16,
                            r: rng.below(4) as u16,
                        });
                    }
                    if rng.chance(0.3) {
                        links.push(Link::Blocked {
                            kind: rng.below(7) as u8,
                            r: rng.below(20) as u16,
                        });
                    }
                }
            }
            self.pages[p].links = links;
        }
    }

    fn home_of(&self, origin: usize) -> u32 {
        match self.hosts[origin].site {
            Site::Origin { first, .. } => first,
            Site::Mirror { .. } => unreachable!("origins come first"),
        }
    }

    fn random_page_of(&self, origin: usize, rng: &mut Rng) -> u32 {
        match self.hosts[origin].site {
            Site::Origin {
                first,
                sections,
                contents,
                ..
            } => first + 2 + sections + rng.below(contents as usize) as u32,
            Site::Mirror { .. } => unreachable!("origins come first"),
        }
    }

    /// Origin hosts, mirror hosts, dead hosts.
    pub fn host_counts(&self) -> (usize, usize, usize) {
        (
            self.origins,
            self.hosts.len() - self.origins,
            self.dead.len(),
        )
    }

    /// Pages of the origin hosts.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The home pages of the first `n` hosts.
    pub fn seeds(&self, n: usize) -> Vec<String> {
        (0..n.min(self.origins))
            .map(|h| self.page_url(self.home_of(h)))
            .collect()
    }

    fn path(&self, page: u32) -> String {
        match self.pages[page as usize].kind {
            PageKind::Home => "/".into(),
            PageKind::Terms => "/terms.html".into(),
            PageKind::Section(j) => format!("/s{j}/"),
            PageKind::Content(k) => format!("/s{}/p{}.html", k / PER_SECTION, k % PER_SECTION),
        }
    }

    fn page_url(&self, page: u32) -> String {
        let host = &self.hosts[self.pages[page as usize].host as usize].name;
        format!("https://{host}{}", self.path(page))
    }

    /// Where a link leads: its canonical URL, what is there, and (for pages)
    /// whose links the page carries. `None` for links the filter drops.
    fn target(&self, from: u32, link: &Link) -> Option<(String, Reach, Option<u32>)> {
        let host_of = |p: u32| &self.hosts[self.pages[p as usize].host as usize].name;
        Some(match *link {
            Link::Page { page, .. } => (self.page_url(page), Reach::Page, Some(page)),
            Link::Alias { page, r } => (
                format!("{}?ref={r}&utm=feed", self.page_url(page)),
                Reach::Page,
                Some(page),
            ),
            Link::Mirror { mirror, page } => (
                format!(
                    "https://{}{}",
                    self.hosts[mirror as usize].name,
                    self.path(page)
                ),
                Reach::Page,
                Some(page),
            ),
            Link::Broken { section, r } => (
                format!("https://{}/s{section}/missing-{r}.html", host_of(from)),
                Reach::NotFound,
                None,
            ),
            Link::Dead { dead, r } => (
                format!("https://{}/r{r}.html", self.dead[dead as usize]),
                Reach::DeadHost,
                None,
            ),
            Link::Blocked { .. } => return None,
        })
    }

    /// The exact breadth-first search: every URL reachable from `seeds`
    /// through links the filter allows, never passing through `avoid`.
    /// Computed from the generator's own link lists, not from HTML.
    pub fn reachable(&self, seeds: usize, avoid: &HashSet<String>) -> HashMap<String, Reach> {
        let mut seen = HashMap::new();
        let mut queue = VecDeque::new();
        for h in 0..seeds.min(self.origins) {
            let page = self.home_of(h);
            let url = self.page_url(page);
            if !avoid.contains(&url) && seen.insert(url, Reach::Page).is_none() {
                queue.push_back(page);
            }
        }
        while let Some(page) = queue.pop_front() {
            for link in &self.pages[page as usize].links {
                let Some((url, reach, next)) = self.target(page, link) else {
                    continue;
                };
                if avoid.contains(&url) || seen.contains_key(&url) {
                    continue;
                }
                seen.insert(url, reach);
                if let Some(next) = next {
                    queue.push_back(next);
                }
            }
        }
        seen
    }

    /// Distinct URLs the web's pages link to (what the crawl plan sizes the
    /// filters for), seeds included.
    pub fn linked_urls(&self, seeds: usize) -> usize {
        let mut all: HashSet<String> = self.seeds(seeds).into_iter().collect();
        for (p, page) in self.pages.iter().enumerate() {
            for link in &page.links {
                if let Some((url, _, _)) = self.target(p as u32, link) {
                    all.insert(url);
                }
            }
        }
        all.len()
    }

    /// The page an origin host serves at `path` (query ignored).
    fn lookup_path(&self, origin: u16, path: &str) -> Option<u32> {
        let Site::Origin {
            first,
            sections,
            contents,
            ..
        } = self.hosts[origin as usize].site
        else {
            return None;
        };
        match path {
            "/" => return Some(first),
            "/terms.html" => return Some(first + 1),
            _ => {}
        }
        let (j, rest) = path.strip_prefix("/s")?.split_once('/')?;
        let j = parse_index(j)?;
        if j >= sections {
            return None;
        }
        if rest.is_empty() {
            return Some(first + 2 + j);
        }
        let k = parse_index(rest.strip_prefix('p')?.strip_suffix(".html")?)?;
        let k = j * PER_SECTION + k;
        (k < contents && k / PER_SECTION == j).then_some(first + 2 + sections + k)
    }

    /// The page's HTML, as its origin serves it.
    fn render(&self, page: u32, out: &mut String) {
        let spec = &self.pages[page as usize];
        let host = &self.hosts[spec.host as usize].name;
        let title = match spec.kind {
            PageKind::Home => format!("{host} home"),
            PageKind::Terms => "Terms of use".into(),
            PageKind::Section(j) => format!("{host} section {j}"),
            PageKind::Content(k) => format!("{host} page {k}"),
        };
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html><head><title>{title}</title>\n\
             <link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body>\n<h1>{title}</h1>\n"
        );
        let n = self.texts.len() as u32;
        // Boilerplate is the same on every host.
        let first = if let PageKind::Terms = spec.kind {
            0
        } else {
            spec.text
        };
        for i in 0..spec.paragraphs {
            let _ = writeln!(out, "<p>{}</p>", self.texts[((first + i) % n) as usize]);
        }
        out.push_str("<ul>\n");
        for (i, link) in spec.links.iter().enumerate() {
            let href = self.href(page, link);
            if i % 7 == 3 {
                let _ = writeln!(out, "<li><A class=x HREF='{href}'>link {i}</A></li>");
            } else {
                let _ = writeln!(out, "<li><a href=\"{href}\">link {i}</a></li>");
            }
        }
        out.push_str("</ul>\n<img src=\"/img/logo.png\" alt=\"\">\n</body></html>\n");
    }

    /// How a link is written on page `from`.
    fn href(&self, from: u32, link: &Link) -> String {
        let origin = &self.hosts[self.pages[from as usize].host as usize];
        let absolute = matches!(origin.site, Site::Origin { absolute: true, .. });
        let on_site = |path: &str| {
            if absolute {
                format!("https://{}{path}", origin.name)
            } else {
                path.to_owned()
            }
        };
        match *link {
            Link::Page { page, form } => {
                let host = &self.hosts[self.pages[page as usize].host as usize].name;
                let path = self.path(page);
                match form {
                    Form::Absolute => format!("https://{host}{path}"),
                    Form::Shouting => format!("https://{}{path}", host.to_ascii_uppercase()),
                    Form::SchemeRelative => format!("//{host}{path}"),
                    Form::RootRelative => path,
                    Form::Relative => relative(&self.path(from), &path),
                    Form::RelativeFragment => format!("{}#top", relative(&self.path(from), &path)),
                }
            }
            Link::Alias { page, r } => {
                on_site(&format!("{}?ref={r}&amp;utm=feed", self.path(page)))
            }
            Link::Mirror { mirror, page } => {
                format!(
                    "https://{}{}",
                    self.hosts[mirror as usize].name,
                    self.path(page)
                )
            }
            Link::Broken { section, r } => on_site(&format!("/s{section}/missing-{r}.html")),
            Link::Dead { dead, r } => format!("https://{}/r{r}.html", self.dead[dead as usize]),
            Link::Blocked { kind, r } => match kind {
                0 => format!("mailto:webmaster@{}", origin.name),
                1 => "javascript:void(0)".into(),
                2 => on_site(&format!("/img/{r}.jpg")),
                3 => on_site(&format!("/files/report-{r}.PDF")),
                4 => on_site(&format!("/private/{r}.html")),
                5 => format!("https://ads.example/click?id={r}"),
                _ => format!("ftp://files.example/pub/{r}.zip"),
            },
        }
    }
}

impl DnsServer for GeneratedWeb {
    fn lookup(&mut self, host: &str) -> Option<DnsAnswer> {
        self.dns_queries += 1;
        let h = &self.hosts[*self.by_name.get(host)? as usize];
        Some(DnsAnswer {
            ip: h.ip,
            ttl: h.ttl,
        })
    }
}

impl HtmlFetcher for GeneratedWeb {
    fn fetch(&mut self, ip: Ipv4Addr, url: &Url, now: u64) -> Response {
        let mut body = String::new();
        let (status, rtt) = match self.by_name.get(url.host()) {
            Some(&h) if self.hosts[h as usize].ip == ip => {
                let host = &self.hosts[h as usize];
                let (origin, mirror) = match host.site {
                    Site::Origin { .. } => (h, false),
                    Site::Mirror { of } => (of, true),
                };
                match self.lookup_path(origin, url.path_only()) {
                    Some(page) => {
                        self.render(page, &mut body);
                        if mirror {
                            // The mirror's server re-indents what it copies.
                            body = body.replace('\n', "\r\n    ");
                        }
                        (200, host.rtt)
                    }
                    None => {
                        body.push_str("<html><body>404 not found</body></html>");
                        (404, host.rtt)
                    }
                }
            }
            _ => (421, 50 * MS),
        };
        let latency = rtt + body.len() as u64 * NS_PER_BYTE;
        self.log.push(Access {
            host: url.host().to_owned(),
            url: url.as_str().to_owned(),
            start: now,
            end: now + latency,
            status,
        });
        Response {
            status,
            body: body.into_bytes(),
            latency,
        }
    }
}

fn host_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)
}

/// A decimal index without sign or leading zeros.
fn parse_index(s: &str) -> Option<u32> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// The relative reference from the page at `from` to the path `to`.
pub(super) fn relative(from: &str, to: &str) -> String {
    let dir_segments = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let from_dir = dir_segments(&from[..from.rfind('/').map_or(0, |i| i + 1)]);
    let (to_dir, file) = to.rsplit_once('/').unwrap_or(("", to));
    let to_dir = dir_segments(to_dir);
    let common = from_dir
        .iter()
        .zip(&to_dir)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = "../".repeat(from_dir.len() - common);
    for seg in &to_dir[common..] {
        out.push_str(seg);
        out.push('/');
    }
    out.push_str(file);
    if out.is_empty() {
        out.push_str("./");
    }
    out
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A local directory of real HTML
// ---------------------------------------------------------------------------

/// A directory of HTML files served as one host, [`LocalSite::HOST`]:
/// `https://local.docs/a/b.html` is `<root>/a/b.html`, a directory is its
/// `index.html`. Paths are taken literally (no percent-decoding), and `..`
/// never leaves the root (the URL's dot segments are already resolved).
pub struct LocalSite {
    root: PathBuf,
}

impl LocalSite {
    pub const HOST: &'static str = "local.docs";

    /// The site, if `root` is a directory.
    pub fn open(root: &Path) -> Option<LocalSite> {
        root.is_dir().then(|| LocalSite {
            root: root.to_owned(),
        })
    }

    /// Where a crawl of the site starts.
    pub fn seed(&self) -> String {
        format!("https://{}/", LocalSite::HOST)
    }

    /// Files under the root (up to `cap`): what the filters are sized for.
    pub fn file_count(&self, cap: usize) -> usize {
        let mut n = 0;
        let mut dirs = vec![self.root.clone()];
        while let Some(d) = dirs.pop() {
            let Ok(entries) = fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                match e.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(e.path()),
                    Ok(_) => n += 1,
                    Err(_) => {}
                }
                if n >= cap {
                    return n;
                }
            }
        }
        n
    }

    /// The file a URL path maps to; `None` if a segment would leave the root.
    pub(super) fn file_for(&self, path: &str) -> Option<PathBuf> {
        let mut file = self.root.clone();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            if seg == "." || seg == ".." || seg.contains('\\') {
                return None;
            }
            file.push(seg);
        }
        if path.ends_with('/') || file.is_dir() {
            file.push("index.html");
        }
        Some(file)
    }
}

impl DnsServer for LocalSite {
    fn lookup(&mut self, host: &str) -> Option<DnsAnswer> {
        (host == LocalSite::HOST).then_some(DnsAnswer {
            ip: Ipv4Addr::LOCALHOST,
            ttl: 300 * SEC,
        })
    }
}

impl HtmlFetcher for LocalSite {
    fn fetch(&mut self, ip: Ipv4Addr, url: &Url, _now: u64) -> Response {
        let body = (ip == Ipv4Addr::LOCALHOST && url.host() == LocalSite::HOST)
            .then(|| self.file_for(url.path_only()))
            .flatten()
            .and_then(|f| fs::read(f).ok());
        let (status, body) = match body {
            Some(b) => (200, b),
            None => (404, b"<html><body>404 not found</body></html>".to_vec()),
        };
        Response {
            status,
            latency: MS + body.len() as u64 * NS_PER_BYTE,
            body,
        }
    }
}
