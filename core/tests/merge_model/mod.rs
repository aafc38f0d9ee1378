// SPDX-License-Identifier: GPL-2.0
//! A model filesystem for the merge rules: directories, symlinks (also pointing outside
//! `/mars`) and regular files, to which the decisions of `mars_core::merge_rules` are applied
//! as the kernel applies them. Shared by `core/tests/merge_rules.rs` and the fuzz target
//! `fuzz/fuzz_targets/merge_rules.rs` (included with `#[path]`).
//!
//! Two resolvers: the confined one (the kernel's: every component beneath `/mars`, no symlink
//! followed anywhere) and the following one (what the kernel did before: symlinks followed in
//! every directory component). The rules alone must keep even the following resolver inside
//! `/mars` when the tree starts clean.
#![allow(dead_code)]

use std::collections::BTreeMap;

use mars_core::lamport::Stamp;
use mars_core::merge::Stamped;
use mars_core::merge_rules::{
    decide, may_create_parent, Action, Decision, EntryKind, Local, MergeContext, Received,
};
use mars_core::names::HostName;

/// One object of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir,
    Link(String, Stamp),
    File(Stamp),
}

/// A whole filesystem: absolute path to object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fs {
    pub nodes: BTreeMap<String, Node>,
}

/// How paths are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// Beneath /mars, no symlink in any component (the kernel now).
    Confined,
    /// Symlinks followed in directory components (the kernel before).
    Following,
}

/// What one application did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Option<Decision>,
    /// The lookup refused (a symlink or non-directory on the way).
    pub lookup_refused: bool,
}

impl Fs {
    /// A member's /mars with an outside world: `/etc/passwd`, `/dev/sda`, a resource `r`.
    pub fn standard(me: &str) -> Fs {
        let mut fs = Fs::default();
        let t = Stamp::new(10, 0);
        for dir in ["/", "/etc", "/dev", "/mars", "/mars/ips", "/mars/userspace"] {
            fs.nodes.insert(dir.into(), Node::Dir);
        }
        fs.nodes.insert("/etc/passwd".into(), Node::File(t));
        fs.nodes.insert("/dev/sda".into(), Node::File(t));
        fs.nodes
            .insert("/mars/uuid".into(), Node::Link("a_1.0".into(), t));
        fs.nodes.insert(
            format!("/mars/ips/ip-{me}"),
            Node::Link("10.0.0.1".into(), t),
        );
        for dir in [
            "/mars/resource-r".to_string(),
            format!("/mars/resource-r/todo-{me}"),
            format!("/mars/resource-r/actual-{me}"),
        ] {
            fs.nodes.insert(dir, Node::Dir);
        }
        for (key, value) in [
            (format!("resource-r/data-{me}"), "/dev/sdb".to_string()),
            (format!("resource-r/device-{me}"), "r".to_string()),
            (format!("resource-r/todo-{me}/attach"), "1".to_string()),
            ("resource-r/primary".to_string(), me.to_string()),
            ("resource-r/size".to_string(), "1000".to_string()),
        ] {
            fs.nodes
                .insert(format!("/mars/{key}"), Node::Link(value, t));
        }
        fs.nodes.insert(
            format!("/mars/resource-r/log-000000001-{me}"),
            Node::File(t),
        );
        fs
    }

    /// Everything outside /mars.
    pub fn outside(&self) -> BTreeMap<String, Node> {
        self.nodes
            .iter()
            .filter(|(p, _)| !(p.as_str() == "/mars" || p.starts_with("/mars/")))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect()
    }

    /// The directory an absolute path resolves to for its components, following links the
    /// way a path walk does (absolute targets from `/`, relative from the link's directory),
    /// at most 8 of them. `None` when a component is missing or no directory.
    fn walk_following(&self, dir: &str) -> Option<String> {
        let mut current = String::new();
        let mut hops = 0;
        let mut pending: Vec<String> = dir
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(String::from)
            .collect();
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "." => continue,
                ".." => {
                    if let Some(cut) = current.rfind('/') {
                        current.truncate(cut);
                    }
                    continue;
                }
                _ => {}
            }
            let next = format!("{current}/{component}");
            match self.nodes.get(&next)? {
                Node::Dir => current = next,
                Node::Link(target, _) => {
                    hops += 1;
                    if hops > 8 {
                        return None;
                    }
                    if target.starts_with('/') {
                        current = String::new();
                    }
                    for c in target.split('/').filter(|c| !c.is_empty()).rev() {
                        pending.push(c.to_string());
                    }
                }
                Node::File(_) => return None,
            }
        }
        Some(if current.is_empty() {
            "/".into()
        } else {
            current
        })
    }

    /// The real absolute path of the directory `/mars/<rel_dir>` (`rel_dir` may be empty), or
    /// `None` if the resolver refuses or it is missing.
    fn resolve_dir(&self, rel_dir: &str, resolver: Resolver) -> Option<String> {
        let path = if rel_dir.is_empty() {
            "/mars".to_string()
        } else {
            format!("/mars/{rel_dir}")
        };
        match resolver {
            Resolver::Following => self.walk_following(&path),
            Resolver::Confined => {
                if rel_dir.split('/').any(|c| c == "." || c == "..") {
                    return None;
                }
                (self.nodes.get(&path) == Some(&Node::Dir)).then_some(path)
            }
        }
    }

    /// Makes the missing parents of `/mars/<rel>` as the kernel does: each must be a directory
    /// the merge may create. Returns the real path of the parent directory.
    fn make_parents(&mut self, rel: &str, resolver: Resolver) -> Option<String> {
        let mut end = 0usize;
        while let Some(slash) = rel[end..].find('/') {
            let dir = &rel[..end + slash];
            if self.resolve_dir(dir, resolver).is_none() {
                let (parent, name) = match dir.rsplit_once('/') {
                    Some((p, n)) => (p, n),
                    None => ("", dir),
                };
                let real_parent = self.resolve_dir(parent, resolver)?;
                let real = format!("{real_parent}/{name}");
                if self.nodes.contains_key(&real) || !may_create_parent(dir) {
                    return None;
                }
                self.nodes.insert(real, Node::Dir);
            }
            end += slash + 1;
        }
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        self.resolve_dir(parent, resolver)
    }

    /// Applies one received entry: looks the local object up, asks the rules, carries out the
    /// decision.
    pub fn apply(
        &mut self,
        ctx: &MergeContext<'_>,
        entry: &Received<'_>,
        resolver: Resolver,
    ) -> Outcome {
        let (parent, name) = match entry.path.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => ("", entry.path),
        };
        // The local object: missing when the parent is missing; a refused lookup stops.
        let real_parent = self.resolve_dir(parent, resolver);
        let real = real_parent.as_ref().map(|p| format!("{p}/{name}"));
        let local_owned;
        let local = match &real {
            Some(real) => {
                local_owned = self.nodes.get(real).cloned();
                match &local_owned {
                    None => Local::Missing,
                    Some(Node::Dir) => Local::Dir,
                    Some(Node::File(s)) => Local::File(*s),
                    Some(Node::Link(v, s)) => Local::Link(Stamped {
                        value: v,
                        stamp: *s,
                    }),
                }
            }
            None => {
                if resolver == Resolver::Confined && self.parent_blocked(parent) {
                    return Outcome {
                        decision: None,
                        lookup_refused: true,
                    };
                }
                Local::Missing
            }
        };
        let decision = decide(ctx, entry, local);
        if let Decision::Take(action) = decision {
            let Some(real_parent) = self.make_parents(entry.path, resolver) else {
                return Outcome {
                    decision: Some(decision),
                    lookup_refused: true,
                };
            };
            let real = format!("{real_parent}/{name}");
            match action {
                Action::MakeDir => {
                    self.nodes.entry(real).or_insert(Node::Dir);
                }
                Action::CreateLink | Action::ReplaceLink | Action::DeleteLink => {
                    // The atomic replace renames over a link or nothing; never over others.
                    match self.nodes.get(&real) {
                        None | Some(Node::Link(..)) => {
                            self.nodes
                                .insert(real, Node::Link(entry.value.into(), entry.stamp));
                        }
                        _ => {}
                    }
                }
                Action::DeleteFile => {
                    if let Some(Node::File(_)) = self.nodes.get(&real) {
                        self.nodes
                            .insert(real, Node::Link(entry.value.into(), entry.stamp));
                    }
                }
            }
        }
        Outcome {
            decision: Some(decision),
            lookup_refused: false,
        }
    }

    /// Whether some component of `/mars/<rel_dir>` exists but is no directory (a link).
    fn parent_blocked(&self, rel_dir: &str) -> bool {
        let mut path = "/mars".to_string();
        for c in rel_dir.split('/').filter(|c| !c.is_empty()) {
            path = format!("{path}/{c}");
            match self.nodes.get(&path) {
                Some(Node::Dir) => {}
                Some(_) => return true,
                None => return false,
            }
        }
        false
    }

    /// The links at keys the layout has as directories (must stay empty).
    pub fn links_at_dir_keys(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|(path, node)| {
                let rel = path.strip_prefix("/mars/")?;
                let key = mars_core::tree::Key::parse(rel).ok()?;
                (matches!(node, Node::Link(..)) && mars_core::merge_rules::is_dir_key(&key))
                    .then(|| path.clone())
            })
            .collect()
    }
}

/// A context for host `me` receiving from `peer`, with a far limit for stamps.
pub fn context<'a>(me: &'a str, peer: &'a str) -> MergeContext<'a> {
    MergeContext {
        me: HostName::parse(me).expect("valid host"),
        peer: HostName::parse(peer).expect("valid host"),
        bogus_after: Stamp::new(1_000_000, 0),
    }
}

/// A received symlink.
pub fn link<'a>(path: &'a str, value: &'a str, sec: i64) -> Received<'a> {
    Received {
        kind: EntryKind::Symlink,
        path,
        value,
        stamp: Stamp::new(sec, 0),
    }
}

/// A received directory.
pub fn dir(path: &str, sec: i64) -> Received<'_> {
    Received {
        kind: EntryKind::Dir,
        path,
        value: "",
        stamp: Stamp::new(sec, 0),
    }
}

/// The host that owns the key at `rel`, if a host does (the suffix of a host-named key).
pub fn owner_host(rel: &str) -> Option<String> {
    use mars_core::tree::{Key, ResourceKey};
    let host = match Key::parse(rel).ok()? {
        Key::Ip(h) | Key::Defaults { host: Some(h), .. } | Key::Actual { host: h, .. } => h,
        Key::Resource {
            key:
                ResourceKey::Data(h)
                | ResourceKey::Device(h)
                | ResourceKey::ActSize(h)
                | ResourceKey::Replay(h)
                | ResourceKey::SyncStatus(h)
                | ResourceKey::SyncPos(h)
                | ResourceKey::VerifyStatus(h)
                | ResourceKey::SkipCheck(h)
                | ResourceKey::SyncFrom(h)
                | ResourceKey::Connect(h)
                | ResourceKey::LogStatus(h)
                | ResourceKey::Todo { host: h, .. }
                | ResourceKey::Actual { host: h, .. }
                | ResourceKey::Version { host: h, .. }
                | ResourceKey::Defaults { host: Some(h), .. },
            ..
        } => h,
        _ => return None,
    };
    Some(host.as_str().into())
}

/// Applies `entry` from `peer` to `fs` (this host `me`) and checks the promises of the merge
/// against the state before: nothing outside `/mars` differs from `outside`; no symlink at a
/// directory key; `me`'s keys unchanged (but for tombstones of version links); another host's
/// keys changed only by that host (but for version-link tombstones, a new `ips/ip-<host>` and
/// directories); no changed link points outside `/mars` and `/dev`. `Err` says which promise
/// broke.
pub fn apply_checked(
    fs: &mut Fs,
    me: &str,
    peer: &str,
    entry: &Received<'_>,
    resolver: Resolver,
    outside: &BTreeMap<String, Node>,
) -> Result<(), String> {
    let before = fs.clone();
    fs.apply(&context(me, peer), entry, resolver);
    if &fs.outside() != outside {
        return Err(format!("outside /mars touched by {entry:?}"));
    }
    let at_dir_keys = fs.links_at_dir_keys();
    if !at_dir_keys.is_empty() {
        return Err(format!("symlinks at directory keys: {at_dir_keys:?}"));
    }
    for (real, node) in fs.nodes.iter() {
        if before.nodes.get(real) == Some(node) {
            continue;
        }
        let Some(rel) = real.strip_prefix("/mars/") else {
            continue;
        };
        if let Node::Link(value, _) = node {
            if !mars_core::merge_rules::value_stays_in_tree(value) {
                return Err(format!(
                    "{rel} -> {value} points outside /mars, from {peer}"
                ));
            }
        }
        let Some(owner) = owner_host(rel) else {
            continue;
        };
        let housekeeping = matches!(node, Node::Link(v, _) if v == ".deleted")
            && rel
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("version-"));
        let new_address = rel.starts_with("ips/ip-") && !before.nodes.contains_key(real);
        if owner == me && !housekeeping {
            return Err(format!("own key {rel} changed by {peer}"));
        }
        if owner != peer && !housekeeping && !new_address && !matches!(node, Node::Dir) {
            return Err(format!("{owner}'s key {rel} changed by {peer}"));
        }
    }
    Ok(())
}
