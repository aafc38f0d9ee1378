// SPDX-License-Identifier: GPL-2.0
//! mars-adversary: TEST ONLY. A hostile peer that speaks the MARS protocol with the shared
//! codec (`mars_core::wire`) over std TCP, for tests/qemu/scenarios/net-adversary.sh. Each
//! subcommand is one attack and prints one line of `key=value` saying what got through.
//! Documentation/testing.rst describes the subcommands.

mod client;
mod conn;
mod handshake;
mod logfile;
mod report;
mod server;

use handshake::Identity;
use mars_core::auth::Secret;
use mars_core::version::DEFAULT_PORT;
use mars_core::wire::ANY_CLUSTER;
use server::Tree;
use std::process::ExitCode;

const USAGE: &str = "\
usage: mars-adversary [OPTIONS] SUBCOMMAND [ARGS]
client attacks on --target (default alpha):
  hello-any                  Hello with uuid (any): was it welcomed, what did it reveal
  push-ip-tombstone          PushLink ips/ip-VICTIM = .deleted, a newer stamp
  push-ip                    PushLink ips/ip-VICTIM = --to ADDR
  read-log RES LOGNAME       LogRead of /mars/resource-RES/LOGNAME: bytes received
  read-sync RES              SyncRead of the first --bytes of RES: bytes received
  sums-not-agreed RES        SyncSumsRead of RES with digests the handshake did not agree
                             (SHA1, MD5): answers refused as unsupported, digests received
  slowloris N                N connections trickling a byte a second for --seconds
  notify-flood N             N Notify frames
  future-stamp               frames stamped --days ahead
  get-ents DIR [DEPTH]       GetEnts of DIR (depth 1): entries listed, and outside DIR
server attacks (listen on --port, answer members' pulls):
  serve-escape               /mars/resource-x -> /etc, then resource-x/CANARY changed
  serve-flood N              N entries /mars/userspace/flood-K = --value
  serve-ips N                N links /mars/ips/ip-hostK
  serve-own-keys V[,V...]    each victim's data-, replay- and ips/ip- links changed
logfiles (no network):
  compress-log SRC DST       logfile SRC re-written as DST, payloads compressed as the
                             original does (LZO, LZ4, zlib in turn; mars-host's compressors)
options:
  --target HOST  --port BASE (7777)  --as HOST (claimed name, default evil)
  --uuid UUID ((any))  --secret-file F  --seconds S (20)  --peers N (1)
  --victim HOST (alpha)  --to ADDR (10.77.0.3)  --days D (29)  --canary NAME (mars-canary)
  --res RES (r0, serve-own-keys)  --bytes N (1048576)  --notify HOST[,HOST]
  --value V (.deleted, serve-flood: tombstones of keys the member lacks, cheap to decide)";

/// Command-line options shared by the attacks.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) target: String,
    pub(crate) port: u16,
    pub(crate) host: String,
    pub(crate) uuid: String,
    pub(crate) secret: Option<Secret>,
    pub(crate) seconds: u64,
    pub(crate) peers: usize,
    pub(crate) victim: String,
    pub(crate) to: String,
    pub(crate) days: i64,
    pub(crate) canary: String,
    pub(crate) resource: String,
    pub(crate) bytes: u64,
    pub(crate) notify: Vec<String>,
    pub(crate) value: String,
}

impl Options {
    pub(crate) fn identity(&self) -> Identity {
        Identity {
            host: self.host.clone(),
            uuid: self.uuid.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// Hard limits on the counts an attack takes, so that a typo cannot make a test hang.
const MAX_COUNT: usize = 1_000_000;
const MAX_SECONDS: u64 = 600;

fn parse(args: &[String]) -> Result<(Options, Vec<String>), String> {
    let mut opts = Options {
        target: "alpha".into(),
        port: DEFAULT_PORT,
        host: "evil".into(),
        uuid: ANY_CLUSTER.into(),
        secret: None,
        seconds: 20,
        peers: 1,
        victim: "alpha".into(),
        to: "10.77.0.3".into(),
        days: 29,
        canary: "mars-canary".into(),
        resource: "r0".into(),
        bytes: 1 << 20,
        notify: Vec::new(),
        value: ".deleted".into(),
    };
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if !arg.starts_with("--") {
            rest.push(arg.clone());
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{arg} needs a value"))?
            .clone();
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{arg}: not a number"));
        match arg.as_str() {
            "--target" => opts.target = value,
            "--port" => {
                opts.port = u16::try_from(number(&value)?).map_err(|_| "--port".to_string())?
            }
            "--as" => opts.host = value,
            "--uuid" => opts.uuid = value,
            "--secret-file" => {
                let file = std::fs::read(&value).map_err(|e| format!("{value}: {e}"))?;
                let secret = Secret::parse(&file).map_err(|e| format!("{value}: {e:?}"))?;
                opts.secret = Some(secret);
            }
            "--seconds" => opts.seconds = number(&value)?.min(MAX_SECONDS),
            "--peers" => opts.peers = number(&value)? as usize,
            "--victim" => opts.victim = value,
            "--to" => opts.to = value,
            "--days" => opts.days = i64::try_from(number(&value)?.min(36500)).unwrap_or(0),
            "--canary" => opts.canary = value,
            "--res" => opts.resource = value,
            "--bytes" => opts.bytes = number(&value)?,
            "--notify" => opts.notify = value.split(',').map(String::from).collect(),
            "--value" => opts.value = value,
            _ => return Err(format!("unknown option {arg}")),
        }
    }
    Ok((opts, rest))
}

fn count(arg: Option<&String>) -> Result<usize, String> {
    let n: usize = arg
        .ok_or("a count is needed")?
        .parse()
        .map_err(|_| "the count is not a number")?;
    Ok(n.min(MAX_COUNT))
}

fn run(args: &[String]) -> Result<report::Report, String> {
    let (opts, rest) = parse(args)?;
    let arg = |i: usize| rest.get(i).ok_or_else(|| USAGE.to_string());
    let command = arg(0)?.as_str();
    Ok(match command {
        "hello-any" => client::hello_any(&opts),
        "push-ip-tombstone" => client::push_ip(&opts, ".deleted"),
        "push-ip" => client::push_ip(&opts, &opts.to),
        "read-log" => client::read_log(&opts, arg(1)?, arg(2)?),
        "read-sync" => client::read_sync(&opts, arg(1)?),
        "sums-not-agreed" => client::sums_not_agreed(&opts, arg(1)?),
        "slowloris" => client::slowloris(&opts, count(rest.get(1))?),
        "notify-flood" => client::notify_flood(&opts, count(rest.get(1))?),
        "future-stamp" => client::future_stamp(&opts),
        "get-ents" => client::get_ents(
            &opts,
            arg(1)?,
            rest.get(2)
                .map_or(Ok(1), |d| d.parse::<u8>())
                .map_err(|_| "get-ents: DEPTH is not a number 1..255".to_string())?,
        ),
        "serve-escape" => server::serve(
            &opts,
            Tree::Escape {
                canary: opts.canary.clone(),
            },
        ),
        "serve-flood" => server::serve(
            &opts,
            Tree::Flood {
                count: count(rest.get(1))?,
                value: opts.value.clone(),
            },
        ),
        "serve-ips" => server::serve(&opts, Tree::Ips(count(rest.get(1))?)),
        "serve-own-keys" => server::serve(
            &opts,
            Tree::OwnKeys {
                resource: opts.resource.clone(),
                victims: arg(1)?.split(',').map(String::from).collect(),
            },
        ),
        "compress-log" => logfile::compress_log(arg(1)?, arg(2)?)?,
        _ => return Err(USAGE.to_string()),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
