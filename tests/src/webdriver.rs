//! A small WebDriver client for driving Debian's headless Chromium through
//! `chromedriver` (package `chromium-driver`), or Firefox through `geckodriver`, in
//! the browser tests: start a session,
//! open a page, find elements by CSS selector, click, type, read text, run a script,
//! take a screenshot. One HTTP request per loopback connection; no browser download.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key W3C WebDriver uses for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver` with one headless Chromium session; both end on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

/// The full path of the program `name` on `PATH` (chromedriver needs the browser's).
fn on_path(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// Which browser a session drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Chromium through `chromedriver`.
    Chromium,
    /// Firefox through `geckodriver`.
    Firefox,
}

/// The paths of the driver and the browser of `kind`, when both are installed.
pub fn available_for(kind: Kind) -> Option<(String, String)> {
    match kind {
        Kind::Chromium => available(),
        Kind::Firefox => {
            let driver = on_path("geckodriver").filter(works)?;
            let browser = ["firefox-esr", "firefox"]
                .into_iter()
                .filter_map(on_path)
                .find(works)?;
            Some((driver, browser))
        }
    }
}

/// Whether `bin --version` runs.
fn works(bin: &String) -> bool {
    Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The paths of `chromedriver` and `chromium`, when both are installed.
pub fn available() -> Option<(String, String)> {
    let driver = ["chromedriver"]
        .into_iter()
        .filter_map(on_path)
        .chain(["/usr/lib/chromium/chromedriver".to_owned()])
        .find(works)?;
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .filter_map(on_path)
        .find(works)?;
    Some((driver, browser))
}

fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    // One request per connection: the answer ends when the connection closes.
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|e| e.to_string())?;
    let json_text = read_answer(&mut stream)?;
    let json_text = json_text.as_str();
    let v: Value = serde_json::from_str(json_text).map_err(|e| format!("{e}: {json_text}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        let message = value.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("{error}: {message}"));
    }
    Ok(value)
}

/// Reads one HTTP answer's body: up to the end of the headers, then as many bytes as
/// its Content-Length says (chromedriver keeps the connection open).
fn read_answer(stream: &mut TcpStream) -> Result<String, String> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            match length {
                Some(n) if body.len() >= n => return Ok(body.to_owned()),
                _ => {}
            }
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            let text = String::from_utf8_lossy(&got);
            return Ok(text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default());
        }
        got.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

impl Browser {
    /// Starts `chromedriver` on `port` and a headless Chromium session of the given
    /// window size.
    pub fn start(
        driver: &str,
        chromium: &str,
        port: u16,
        size: (u32, u32),
    ) -> Result<Self, String> {
        Browser::start_kind(Kind::Chromium, driver, chromium, port, size)
    }

    /// Starts the driver of `kind` on `port` and a headless session of the browser at
    /// `browser_path`, of the given window size.
    pub fn start_kind(
        kind: Kind,
        driver: &str,
        browser_path: &str,
        port: u16,
        size: (u32, u32),
    ) -> Result<Self, String> {
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{driver}: {e}"))?;
        let mut browser = Browser {
            driver: child,
            port,
            session: String::new(),
        };
        let started = Instant::now();
        while request(port, "GET", "/status", None).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err("chromedriver did not start".to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = match kind {
            Kind::Chromium => json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": browser_path,
                    "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             format!("--window-size={},{}", size.0, size.1)],
                }
            }}}),
            Kind::Firefox => json!({"capabilities": {"alwaysMatch": {
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": browser_path,
                    "args": ["-headless", format!("--width={}", size.0), format!("--height={}", size.1)],
                }
            }}}),
        };
        let v = request(port, "POST", "/session", Some(&caps))?;
        browser.session = v
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no session: {v}"))?
            .to_owned();
        Ok(browser)
    }

    fn call(&self, method: &str, tail: &str, body: Option<&Value>) -> Result<Value, String> {
        request(
            self.port,
            method,
            &format!("/session/{}{tail}", self.session),
            body,
        )
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) -> Result<(), String> {
        self.call("POST", "/url", Some(&json!({ "url": url })))
            .map(drop)
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let v = self
            .call(
                "POST",
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        v.get(ELEMENT).and_then(Value::as_str).map(str::to_owned)
    }

    /// Waits (up to `limit`) for an element matching `css`.
    pub fn wait_for(&self, css: &str, limit: Duration) -> Result<String, String> {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find(css) {
                return Ok(e);
            }
            if started.elapsed() > limit {
                return Err(format!("nothing matched {css:?} within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to `limit`) until the text of the element matching `css` satisfies
    /// `ok`; returns that text.
    pub fn wait_for_text(
        &self,
        css: &str,
        limit: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let started = Instant::now();
        let mut last = String::new();
        loop {
            if let Some(e) = self.find(css) {
                match self.text(&e) {
                    Ok(text) => {
                        last = text;
                        if ok(&last) {
                            return Ok(last);
                        }
                    }
                    // The page redrew it between finding and reading: find it again.
                    Err(why) if is_stale(&why) => {}
                    Err(why) => return Err(why),
                }
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "the text of {css:?} never became as expected within {limit:?}; last: {last:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Clicks the element matching `css` (found again if the page redrew it between
    /// finding and clicking).
    pub fn click(&self, css: &str) -> Result<(), String> {
        let limit = Duration::from_secs(10);
        let started = Instant::now();
        loop {
            let e = self.wait_for(css, limit)?;
            match self.call("POST", &format!("/element/{e}/click"), Some(&json!({}))) {
                Ok(_) => return Ok(()),
                Err(why) if is_stale(&why) && started.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(why) => return Err(why),
            }
        }
    }

    /// Replaces the contents of the input matching `css` with `text`, typed.
    pub fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let e = self.wait_for(css, Duration::from_secs(10))?;
        self.call("POST", &format!("/element/{e}/clear"), Some(&json!({})))?;
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(&json!({ "text": text })),
        )
        .map(drop)
    }

    /// The visible text of element `e`.
    pub fn text(&self, e: &str) -> Result<String, String> {
        let v = self.call("GET", &format!("/element/{e}/text"), None)?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` in the page (with `arguments` = `args`); its return value.
    pub fn run(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self.call("GET", "/screenshot", None)?;
        base64_decode(v.as_str().unwrap_or_default())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (what WebDriver's screenshots are in).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = value(c).ok_or_else(|| format!("not base64: {:?}", char::from(c)))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap_or(0));
        }
    }
    Ok(out)
}

/// Whether a WebDriver error says the element is gone from the page (redrawn since it
/// was found), which finding it again cures.
fn is_stale(why: &str) -> bool {
    why.contains("stale element")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("a*b").is_err());
    }
}
