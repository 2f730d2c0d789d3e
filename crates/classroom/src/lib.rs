//! `backchannel classroom`: a class plays the intermediary in the browser.
//!
//! One process runs a broker whose relay strategy is the desk
//! ([`backchannel_lab::desk`]), the two players' party nodes and a third power, all
//! real TLS nodes on loopback, and serves a page where students take the seats of
//! alpha, bravo, the third power, the broker and the instructor. The broker's choices
//! act on the real frames; the nodes' verdicts come back to the page as they happen,
//! or, in step mode, one step at a time after the class has predicted it. Rounds can
//! be played again in another mode with the same script.

#![forbid(unsafe_code)]

mod access;
mod actions;
mod round;
mod serve;
mod stepping;
mod view;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use backchannel_lab::scenario::Scenario;
use backchannel_proto::ChannelMode;
use clap::Parser;
use tokio::sync::{RwLock, watch};

use backchannel_plays::attacks::Which;
use backchannel_show::Outcome;
use round::{Names, Round};
use view::Role;

/// Play the intermediary: a live classroom in the browser, where a student is the
/// broker and the others see what they can and cannot notice.
#[derive(Parser)]
pub struct Args {
    /// The mode of the first round; with `all` (the default) each new round offers
    /// the next mode, so a class plays signed, deniable and off-record in turn.
    #[arg(long, value_enum, default_value = "all")]
    mode: Which,
    /// A scenario file (scenarios/*.toml; docs/scenarios.md): its two parties play
    /// alpha and bravo, its third (if any) the third power, and each can say its lines
    /// of the script with one click. A scenario of four parties is refused.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Where the page is served. The default is this machine only; for a classroom
    /// network use `--listen 0.0.0.0:8080` and give the students the join code.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

/// The class: its join code, the seats taken, and the round being played.
pub struct Class {
    codes: access::Codes,
    modes: Vec<ChannelMode>,
    scenario: Option<Scenario>,
    names: Names,
    /// The browsers that joined, and the seats each holds.
    sessions: access::Sessions,
    round: RwLock<Round>,
    /// Which of the script's lines were said this round.
    said: Mutex<Vec<bool>>,
    /// Step mode: how far the seats are shown the round, predictions and scores.
    stepping: Mutex<stepping::Stepping>,
    changed: watch::Sender<u64>,
}

impl Class {
    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A new session holding `roles`, if `code` admits to them (`access.rs`).
    fn join(&self, code: &str, roles: Vec<Role>) -> Result<String, access::Refused> {
        self.codes.grant(code, &roles)?;
        self.sessions
            .open(roles)
            .map_err(|_| access::Refused::WrongCode)
    }

    /// The roles the session `token` holds.
    fn roles(&self, token: &str) -> Option<Vec<Role>> {
        self.sessions.roles(token)
    }

    /// The script's lines for the party `me`: index, recipient, words, whether said.
    fn script_for(&self, me: &str) -> Vec<serde_json::Value> {
        let Some(scenario) = &self.scenario else {
            return Vec::new();
        };
        let said = self
            .said
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        scenario
            .steps
            .iter()
            .enumerate()
            .filter(|(_, step)| step.from == me)
            .map(|(k, step)| {
                let body = step.said.body(round::now());
                serde_json::json!({
                    "line": k,
                    "to": step.to,
                    "kind": body.kind().as_str(),
                    "words": backchannel_show::print::raw_body(&body),
                    "said": said.get(k).copied().unwrap_or(false),
                })
            })
            .collect()
    }

    fn stepping(&self) -> std::sync::MutexGuard<'_, stepping::Stepping> {
        self.stepping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The round being played, cut into steps so far.
    async fn steps_now(&self) -> Vec<backchannel_show::steps::Step> {
        let round = self.round.read().await;
        round.steps(&round.events())
    }

    /// Everything the session holding `roles` may see, as one object.
    async fn view(&self, roles: &[Role]) -> serde_json::Value {
        let round = self.round.read().await;
        let all = round.events();
        let steps = round.steps(&all);
        // Read under one lock, so every part of the view sees the same step; only for
        // the seats this session holds.
        let (cut, caught_up, step_views): (usize, bool, Vec<(Role, serde_json::Value)>) = {
            let stepping = self.stepping();
            (
                stepping.events_shown(&steps, all.len()),
                stepping.caught_up(&steps),
                roles
                    .iter()
                    .map(|r| {
                        let v = match r {
                            Role::Instructor => stepping.instructor_view(&steps),
                            seat => stepping.seat_view(*seat, &steps),
                        };
                        (*r, v)
                    })
                    .collect(),
            )
        };
        let knowledge = if caught_up {
            round.knowledge()
        } else {
            Vec::new()
        };
        let shown = view::Shown {
            events: all.get(..cut).unwrap_or(&all),
            knowledge: &knowledge,
            caught_up,
        };
        let desk = round.desk.view();
        let mut seats = serde_json::Map::new();
        for role in roles {
            let mut v = match role {
                Role::Alpha => view::party(
                    &round,
                    &round.names.alpha,
                    &shown,
                    &self.script_for(&round.names.alpha),
                ),
                Role::Bravo => view::party(
                    &round,
                    &round.names.bravo,
                    &shown,
                    &self.script_for(&round.names.bravo),
                ),
                Role::Third => view::party(
                    &round,
                    &round.names.third,
                    &shown,
                    &self.script_for(&round.names.third),
                ),
                Role::Broker => view::broker(&round, &desk, &all),
                Role::Instructor => serde_json::json!({
                    // The codes to hand out: the class's join code (one seat each)
                    // and one link per seat. Only the instructor's seat sees them.
                    "codes": {
                        "join": self.codes.join,
                        "seats": self.codes.seats.iter().map(|(r, c)| serde_json::json!({"seat": r.as_str(), "code": c})).collect::<Vec<_>>(),
                    },
                    "scoreboard": view::scoreboard(&desk, &shown),
                    "timeline": view::timeline(&round, &shown),
                }),
            };
            let step = step_views
                .iter()
                .find(|(s, _)| s == role)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.insert("step".to_owned(), step);
            }
            seats.insert(role.as_str().to_owned(), v);
        }
        // The judge's findings, once the seats are shown the whole round.
        let ending = round.ending.as_ref().filter(|_| caught_up).map(|e| {
            serde_json::json!({
                "judged": e.judged.iter().map(|j| serde_json::json!({"owner": j.owner, "verdict": j.summary})).collect::<Vec<_>>(),
                "timeline": view::timeline(&round, &shown),
            })
        });
        let next = self.next_mode(round.mode);
        serde_json::json!({
            "round": round.number,
            "mode": round.mode.to_string(),
            "modes": self.modes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "next_mode": next.to_string(),
            "names": {"alpha": round.names.alpha, "bravo": round.names.bravo, "third": round.names.third},
            "scenario": self.scenario.as_ref().map(|s| serde_json::json!({"title": s.title, "about": s.about, "broker": s.broker})),
            "ended": round.ending.is_some(),
            "ending": ending,
            "seats": seats,
        })
    }

    fn next_mode(&self, now: ChannelMode) -> ChannelMode {
        let at = self.modes.iter().position(|m| *m == now).unwrap_or(0);
        self.modes
            .get((at + 1) % self.modes.len().max(1))
            .copied()
            .unwrap_or(now)
    }

    /// Ends the round being played (nodes stopped, transcripts judged).
    async fn end_round(&self) {
        self.round.write().await.end().await;
        self.bump();
    }

    /// Ends the round and starts the next one in `mode`, with the same script.
    async fn new_round(&self, mode: ChannelMode) -> anyhow::Result<()> {
        let mut round = self.round.write().await;
        round.end().await;
        let next = Round::start(
            round.number.saturating_add(1),
            mode,
            self.names.clone(),
            self.changed.clone(),
        )
        .await?;
        *round = next;
        drop(round);
        if let Ok(mut said) = self.said.lock() {
            said.iter_mut().for_each(|s| *s = false);
        }
        self.stepping().new_round();
        self.bump();
        Ok(())
    }
}

/// What the classroom prints when it starts: the instructor's link (every seat), the
/// class's join code (one seat per student), a link per seat, and a warning when it
/// listens beyond this machine.
fn banner(addr: SocketAddr, codes: &access::Codes) -> Vec<String> {
    let shown = if addr.ip().is_unspecified() {
        format!("http://<this machine's address>:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    let mut lines = vec![
        format!("classroom: open {shown}/?code={}", codes.instructor),
        format!(
            "instructor's code: {} (keep it to yourself: it opens every seat, the instructor's too)",
            codes.instructor
        ),
        format!(
            "join code: {} (give it to the class: each student takes one seat, alpha, bravo, the third power or the broker's desk)",
            codes.join
        ),
    ];
    for (seat, code) in &codes.seats {
        lines.push(format!(
            "link for the {} seat only: {shown}/?code={code}&seats={}",
            seat.as_str(),
            seat.as_str()
        ));
    }
    if !addr.ip().is_loopback() {
        lines.push(format!(
            "listening beyond this machine on {addr}: a student needs the join code (one seat) or a seat's link; only the instructor's code opens the instructor's seat"
        ));
    }
    lines.push("press Ctrl-C to end the class".to_owned());
    lines
}

/// Refuses a scenario the classroom cannot seat: it has seats for two players and one
/// third power.
fn seatable(s: &Scenario) -> anyhow::Result<()> {
    if s.parties.len() > 3 {
        anyhow::bail!(
            "{}: the classroom seats two players and one third power; this scenario casts {} parties (play it with demo --scenario)",
            backchannel_proto::text::quoted(&s.title),
            s.parties.len()
        );
    }
    Ok(())
}

/// Runs the classroom until Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<Outcome> {
    let scenario = match &args.scenario {
        Some(path) => Some(backchannel_plays::demo::read_scenario(path)?),
        None => None,
    };
    if let Some(s) = &scenario {
        seatable(s)?;
    }
    let modes = args.mode.modes();
    let first = modes.first().copied().unwrap_or(ChannelMode::Signed);
    let names = Names::new(scenario.as_ref().map(|s| s.parties.as_slice()));
    let (changed, _) = watch::channel(0u64);
    let round = Round::start(1, first, names.clone(), changed.clone()).await?;
    let steps = scenario.as_ref().map_or(0, |s| s.steps.len());
    let class = std::sync::Arc::new(Class {
        codes: access::Codes::new()?,
        modes,
        scenario,
        names,
        sessions: access::Sessions::default(),
        round: RwLock::new(round),
        said: Mutex::new(vec![false; steps]),
        stepping: Mutex::new(stepping::Stepping::default()),
        changed,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    for line in banner(addr, &class.codes) {
        println!("{line}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let app = web::router(std::sync::Arc::clone(&class));
    serve::serve(listener, app, serve::connection_cap(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    class.end_round().await;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn scenario(parties: &str, third_speaks: bool) -> Scenario {
        let mut text = format!(
            "title = \"t\"\nparties = [{parties}]\n\n[[message]]\nfrom = \"north\"\nto = \"south\"\ntext = \"hello\"\nbroker = {{ copy = \"ally\" }}\n"
        );
        if third_speaks {
            text.push_str("\n[[message]]\nfrom = \"ally\"\nto = \"north\"\ntext = \"we heard\"\n");
        }
        Scenario::parse(&text).unwrap()
    }

    #[test]
    fn a_scenario_third_power_takes_the_third_seat_and_a_fourth_party_is_refused() {
        let three = scenario("\"north\", \"south\", \"ally\"", false);
        assert!(seatable(&three).is_ok());
        let names = Names::new(Some(&three.parties));
        assert_eq!(names.all(), ["north", "south", "ally"]);
        // A third power that speaks says its lines from the third seat.
        assert!(seatable(&scenario("\"north\", \"south\", \"ally\"", true)).is_ok());
        let four = seatable(&scenario(
            "\"north\", \"south\", \"ally\", \"rival\"",
            false,
        ))
        .unwrap_err()
        .to_string();
        assert!(four.contains("casts 4 parties"), "{four}");
        // Without a scenario, or with two parties, the third power is named apart.
        assert_eq!(Names::new(None).all(), ["alpha", "bravo", "charlie"]);
        let two = ["charlie".to_owned(), "bravo".to_owned()];
        assert_eq!(Names::new(Some(&two)).third, "charlie-2");
    }

    #[test]
    fn the_banner_gives_each_code_and_warns_when_the_class_is_open_to_the_network() {
        let codes = access::Codes::new().unwrap();
        let local = banner("127.0.0.1:8080".parse().unwrap(), &codes);
        assert_eq!(
            local[0],
            format!(
                "classroom: open http://127.0.0.1:8080/?code={}",
                codes.instructor
            )
        );
        assert!(
            local
                .iter()
                .any(|l| l.starts_with(&format!("join code: {}", codes.join)))
        );
        for (seat, code) in &codes.seats {
            let link = format!("?code={code}&seats={}", seat.as_str());
            assert!(local.iter().any(|l| l.ends_with(&link)), "{local:?}");
        }
        assert!(!local.iter().any(|l| l.contains("beyond")));
        let open = banner("0.0.0.0:8080".parse().unwrap(), &codes);
        assert!(open[0].starts_with("classroom: open http://<this machine's address>:8080/?code="));
        assert!(open.iter().any(|l| l.contains("beyond this machine")));
    }
}
