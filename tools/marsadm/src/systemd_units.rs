// SPDX-License-Identifier: GPL-2.0
//! The file layer of the systemd template engine: where templates are found, which unit
//! instances a set of resources needs, and writing them so that nothing half-made is seen.
//!
//! Templates are the files with a unit suffix (or `.script`) in the first of these
//! directories that has them (a name found earlier wins): `$MARS_PATH` (colon-separated; each
//! entry's `systemd-templates/` subdirectory if it has one, else the entry itself), or by
//! default `./systemd-templates`, `$HOME/.marsadm/systemd-templates`,
//! `/etc/marsadm/systemd-templates`, `/usr/lib/marsadm/systemd-templates`,
//! `/usr/local/lib/marsadm/systemd-templates`.
//!
//! Instances are generated into `$SYSTEMD_TARGET_DIR` (default `/run/systemd/system`),
//! `.script` instances into `$MARS_SCRIPT_DIR` (default
//! `/etc/marsadm/systemd-generated-scripts`: `/run` is often mounted `noexec`). Each starts
//! with a header (after a `#!` line) naming its template and its resource; files without it
//! are never touched. [`generate`] computes every instance in memory (any template error
//! aborts before a file is written), [`Plan`] compares with what is there, and
//! [`write_temporaries`] / [`Temporaries::install`] write `.<name>.<pid>.tmp` files first
//! (no unit suffix: systemd never loads them) and rename them only once all are written. A
//! file of an instance's name that lacks the header is never overwritten.

use crate::fail::Fail;
use crate::systemd_template::{
    escape_path, expand_body, expand_name, has_marker, is_plain_name, match_name, references, Vars,
};
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The suffixes of templates and instances (systemd's unit types and the `.script`
/// pseudo-unit).
pub(crate) const SUFFIXES: [&str; 12] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
    "script",
];

/// The first line of the header every instance carries.
pub(crate) const HEADER_FROM: &str = "### GENERATED FROM: ";
/// The header line naming the instance's resource (`-` for a plain template's).
pub(crate) const HEADER_FOR: &str = "### GENERATED FOR: ";

/// The per-resource watcher every member gets (the original's `SYSTEMD_WATCHER_UNITS`),
/// when a template for it exists.
pub(crate) fn watcher_unit(res: &str) -> String {
    let escaped = escape_path(res).unwrap_or_else(|_| res.to_string());
    format!("mars-{escaped}-trigger.path")
}

/// The template directories: the entries of `$MARS_PATH` (each one's `systemd-templates`
/// subdirectory if it has one), or the original's default list.
pub(crate) fn search_path(mars_path: Option<&str>, home: Option<&Path>) -> Vec<PathBuf> {
    match mars_path.filter(|p| !p.is_empty()) {
        Some(list) => list
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| {
                let sub = Path::new(d).join("systemd-templates");
                if sub.is_dir() {
                    sub
                } else {
                    PathBuf::from(d)
                }
            })
            .collect(),
        None => {
            let mut dirs = vec![PathBuf::from("./systemd-templates")];
            if let Some(home) = home {
                dirs.push(home.join(".marsadm/systemd-templates"));
            }
            for d in ["/etc/marsadm", "/usr/lib/marsadm", "/usr/local/lib/marsadm"] {
                dirs.push(Path::new(d).join("systemd-templates"));
            }
            dirs
        }
    }
}

/// Where templates come from and instances go.
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    pub(crate) search: Vec<PathBuf>,
    pub(crate) unit_dir: PathBuf,
    pub(crate) script_dir: PathBuf,
    /// Where the locks of `systemd-trigger` live (`$MARS_LOCK_DIR`, default
    /// `/run/lock/marsadm`).
    pub(crate) lock_dir: PathBuf,
}

impl Paths {
    pub(crate) fn from_env() -> Paths {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mars_path = std::env::var("MARS_PATH").ok();
        let search = search_path(mars_path.as_deref(), var("HOME").as_deref());
        Paths {
            search,
            unit_dir: var("SYSTEMD_TARGET_DIR")
                .unwrap_or_else(|| PathBuf::from("/run/systemd/system")),
            script_dir: var("MARS_SCRIPT_DIR")
                .unwrap_or_else(|| PathBuf::from("/etc/marsadm/systemd-generated-scripts")),
            lock_dir: var("MARS_LOCK_DIR").unwrap_or_else(|| PathBuf::from("/run/lock/marsadm")),
        }
    }

    /// The directory an instance named `name` goes to.
    pub(crate) fn dir_of(&self, name: &str) -> &Path {
        if name.ends_with(".script") {
            &self.script_dir
        } else {
            &self.unit_dir
        }
    }
}

/// One template file.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    /// The file name (with its constructs).
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

fn unit_suffix(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(stem, suffix)| !stem.is_empty() && SUFFIXES.contains(&suffix))
}

/// Every template of the search path, sorted by name; the first directory with a name wins.
/// An unreadable template is an error (nothing may be generated from half the templates).
pub(crate) fn load_templates(paths: &Paths) -> Result<Vec<Template>, Fail> {
    let mut found: BTreeMap<String, Template> = BTreeMap::new();
    for dir in &paths.search {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && unit_suffix(n))
            .collect();
        names.sort();
        for name in names {
            if found.contains_key(&name) {
                continue;
            }
            let path = dir.join(&name);
            if path.is_dir() {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(|e| {
                Fail::refused(format!("cannot read template '{}': {e}", path.display()))
                    .line("nothing was generated")
            })?;
            found.insert(name.clone(), Template { name, path, text });
        }
    }
    Ok(found.into_values().collect())
}

/// A resource whose units are generated: its variables and the units it asks for
/// (`systemd-start-unit`, `systemd-stop-unit`) besides its watcher.
#[derive(Clone, Debug)]
pub(crate) struct ResourceRoots {
    pub(crate) res: String,
    pub(crate) vars: Vars,
    pub(crate) units: Vec<String>,
}

/// One generated unit or script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Instance {
    pub(crate) name: String,
    /// The resource it was generated for; `None` for a plain template.
    pub(crate) owner: Option<String>,
    pub(crate) template: PathBuf,
    /// The whole file, header included.
    pub(crate) text: String,
}

impl Instance {
    pub(crate) fn is_script(&self) -> bool {
        self.name.ends_with(".script")
    }

    pub(crate) fn marker(&self, word: &str) -> bool {
        has_marker(&self.text, word)
    }
}

fn template_fail(e: impl std::fmt::Display) -> Fail {
    Fail::refused(format!("bad systemd template: {e}")).line("nothing was generated")
}

/// The template for unit `target` asked for in the context of resource `owner`: a plain
/// template of that exact name, or a template whose expanded name matches it.
fn resolve<'t>(
    templates: &'t [Template],
    target: &str,
    owner: Option<&ResourceRoots>,
) -> Result<Option<(&'t Template, Option<Vars>)>, Fail> {
    for template in templates {
        if is_plain_name(&template.name) {
            if template.name == target {
                return Ok(Some((template, None)));
            }
            continue;
        }
        let Some(owner) = owner else {
            continue;
        };
        let mut vars = owner.vars.clone();
        let pattern = expand_name(&template.name, &mut vars)
            .map_err(|e| template_fail(format!("{}: {}", template.path.display(), e.what)))?;
        let binds = match_name(&pattern, target)
            .map_err(|e| template_fail(format!("{}: {e}", template.path.display())))?;
        if let Some(binds) = binds {
            vars.extend(binds);
            return Ok(Some((template, Some(vars))));
        }
    }
    Ok(None)
}

fn with_header(body: &str, template: &Path, name: &str, owner: Option<&str>) -> String {
    let header = format!(
        "{HEADER_FROM}{}\n### GENERATED NAME: {name}\n{HEADER_FOR}{}\n### Written by marsadm systemd-trigger: edit the template, not this file.\n###\n",
        template.display(),
        owner.unwrap_or("-")
    );
    match body.strip_prefix("#!") {
        Some(rest) => {
            let (first, tail) = rest.split_once('\n').unwrap_or((rest, ""));
            format!("#!{first}\n{header}{tail}")
        }
        None => format!("{header}{body}"),
    }
}

/// Every instance the resources need: the plain templates, each resource's watcher and
/// start/stop units, and, transitively, every unit they refer to (dependency directives and
/// `# ALSO=`) for which a template exists. Units without a template are the system's own and
/// are not generated. `global` are the variables of plain templates.
pub(crate) fn generate(
    templates: &[Template],
    global: &Vars,
    resources: &[ResourceRoots],
) -> Result<BTreeMap<String, Instance>, Fail> {
    let mut queue: VecDeque<(String, Option<usize>)> = templates
        .iter()
        .filter(|t| is_plain_name(&t.name))
        .map(|t| (t.name.clone(), None))
        .collect();
    for (index, roots) in resources.iter().enumerate() {
        queue.push_back((watcher_unit(&roots.res), Some(index)));
        for unit in &roots.units {
            queue.push_back((unit.clone(), Some(index)));
        }
    }
    let mut out: BTreeMap<String, Instance> = BTreeMap::new();
    while let Some((target, owner)) = queue.pop_front() {
        if out.contains_key(&target) {
            continue;
        }
        let roots = owner.and_then(|i| resources.get(i));
        let Some((template, vars)) = resolve(templates, &target, roots)? else {
            continue;
        };
        let (mut vars, owner) = match vars {
            Some(vars) => (vars, owner),
            None => (global.clone(), None),
        };
        let file = template.path.display().to_string();
        let body = expand_body(&template.text, &file, &mut vars).map_err(template_fail)?;
        for unit in references(&body, &SUFFIXES) {
            queue.push_back((unit, owner));
        }
        let owner_name = owner.and_then(|i| resources.get(i)).map(|r| r.res.clone());
        let text = with_header(&body, &template.path, &target, owner_name.as_deref());
        out.insert(
            target.clone(),
            Instance {
                name: target,
                owner: owner_name,
                template: template.path.clone(),
                text,
            },
        );
    }
    Ok(out)
}

/// The name of the unit a `<NAME>_START` / `<NAME>_STOP` marker stands for: the first
/// template (by name) with the marker, its name expanded for the resource. `Ok(None)` when
/// no template has it.
pub(crate) fn marked_unit(
    templates: &[Template],
    vars: &Vars,
    marker: &str,
) -> Result<Option<String>, Fail> {
    let Some(template) = templates.iter().find(|t| has_marker(&t.text, marker)) else {
        return Ok(None);
    };
    let mut vars = vars.clone();
    let name = expand_name(&template.name, &mut vars)
        .map_err(|e| template_fail(format!("{}: {}", template.path.display(), e.what)))?;
    if name.contains("^{") {
        return Err(Fail::refused(format!(
            "template '{}' has the marker '# {marker}', but its name needs a '^{{}}' match: name the unit instead",
            template.path.display()
        )));
    }
    Ok(Some(name))
}

/// A generated file found in an instance directory.
#[derive(Clone, Debug)]
pub(crate) struct Existing {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) owner: Option<String>,
    pub(crate) text: String,
}

impl Existing {
    pub(crate) fn is_script(&self) -> bool {
        self.name.ends_with(".script")
    }
}

/// The generated files (those with our header) in the instance directories.
pub(crate) fn scan_generated(paths: &Paths) -> Vec<Existing> {
    let mut out = Vec::new();
    for dir in [&paths.unit_dir, &paths.script_dir] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !unit_suffix(&name) {
                continue;
            }
            let path = entry.path();
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            if !text.lines().any(|l| l.starts_with(HEADER_FROM)) {
                continue;
            }
            let owner = text
                .lines()
                .find_map(|l| l.strip_prefix(HEADER_FOR))
                .map(str::trim)
                .filter(|o| !o.is_empty() && *o != "-")
                .map(str::to_string);
            out.push(Existing {
                name,
                path,
                owner,
                text,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What a generation changes on disk.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// New or changed instances.
    pub(crate) write: Vec<Instance>,
    /// Generated files no longer generated (within the scope).
    pub(crate) remove: Vec<Existing>,
}

impl Plan {
    /// Compares `new` with `existing`. Removal is limited to the scope: the instances of
    /// resource `scope`, or every generated file when `scope` is `None`.
    pub(crate) fn new(
        new: &BTreeMap<String, Instance>,
        existing: &[Existing],
        scope: Option<&str>,
    ) -> Plan {
        let write = new
            .values()
            .filter(|i| {
                !existing
                    .iter()
                    .any(|e| e.name == i.name && e.text == i.text)
            })
            .cloned()
            .collect();
        let remove = existing
            .iter()
            .filter(|e| !new.contains_key(&e.name))
            .filter(|e| scope.is_none() || e.owner.as_deref() == scope)
            .cloned()
            .collect();
        Plan { write, remove }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.write.is_empty() && self.remove.is_empty()
    }

    /// Whether systemd must reload its unit files (a unit, not a script, changed).
    pub(crate) fn needs_reload(&self) -> bool {
        self.write.iter().any(|i| !i.is_script()) || self.remove.iter().any(|e| !e.is_script())
    }
}

/// The temporaries written for a plan, removed on drop unless installed.
pub(crate) struct Temporaries {
    files: Vec<(PathBuf, PathBuf)>,
}

impl Drop for Temporaries {
    fn drop(&mut self) {
        for (temp, _) in &self.files {
            let _ = fs::remove_file(temp);
        }
    }
}

/// Writes every instance of `plan` as `.<name>.<pid>.tmp` next to its target (mode 0644,
/// scripts 0755). Refused when a target exists without our header. On a failure the
/// temporaries written so far are removed.
pub(crate) fn write_temporaries(paths: &Paths, plan: &Plan) -> Result<Temporaries, Fail> {
    let mut temps = Temporaries { files: Vec::new() };
    let pid = std::process::id();
    for instance in &plan.write {
        let dir = paths.dir_of(&instance.name);
        fs::create_dir_all(dir).map_err(|e| {
            Fail::refused(format!("cannot create directory '{}': {e}", dir.display()))
        })?;
        let target = dir.join(&instance.name);
        match fs::read(&target) {
            Ok(old)
                if !String::from_utf8_lossy(&old)
                    .lines()
                    .any(|l| l.starts_with(HEADER_FROM)) =>
            {
                return Err(Fail::refused(format!(
                    "'{}' exists and was not generated by marsadm: not overwritten",
                    target.display()
                ))
                .line("rename the template or remove the file")
                .line("nothing was installed"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(
                    Fail::refused(format!("cannot read '{}': {e}", target.display()))
                        .line("nothing was installed"),
                )
            }
        }
        // A name systemd never takes for a unit (no unit suffix), even after a crash.
        let temp = dir.join(format!(".{}.{pid}.tmp", instance.name));
        let mode = if instance.is_script() { 0o755 } else { 0o644 };
        let _ = fs::remove_file(&temp);
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .and_then(|mut f| {
                // The temporary is ours from here on, also when the write fails.
                temps.files.push((temp.clone(), target.clone()));
                f.write_all(instance.text.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| fs::set_permissions(&temp, fs::Permissions::from_mode(mode)));
        written.map_err(|e| {
            Fail::refused(format!("cannot write '{}': {e}", temp.display()))
                .line("nothing was installed")
        })?;
    }
    Ok(temps)
}

impl Temporaries {
    /// Renames every temporary over its target.
    pub(crate) fn install(mut self) -> Result<(), Fail> {
        let files = std::mem::take(&mut self.files);
        let mut failed = None;
        for (index, (temp, target)) in files.iter().enumerate() {
            if let Err(e) = fs::rename(temp, target) {
                failed = Some((
                    index,
                    format!(
                        "cannot rename '{}' to '{}': {e}",
                        temp.display(),
                        target.display()
                    ),
                ));
                break;
            }
        }
        if let Some((index, message)) = failed {
            for (temp, _) in files.iter().skip(index) {
                let _ = fs::remove_file(temp);
            }
            return Err(Fail::refused(message));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(name: &str, text: &str) -> Template {
        Template {
            name: name.to_string(),
            path: PathBuf::from(format!("/t/{name}")),
            text: text.to_string(),
        }
    }

    fn roots(res: &str, units: &[&str]) -> ResourceRoots {
        let mut vars = Vars::new();
        vars.insert("res".into(), res.into());
        vars.insert("host".into(), "alpha".into());
        ResourceRoots {
            res: res.into(),
            vars,
            units: units.iter().map(|u| u.to_string()).collect(),
        }
    }

    fn global() -> Vars {
        [("host".to_string(), "alpha".to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn templates_are_searched_where_the_original_searches() {
        let dirs = search_path(None, Some(Path::new("/root")));
        let dirs: Vec<&str> = dirs.iter().filter_map(|d| d.to_str()).collect();
        assert_eq!(
            dirs,
            [
                "./systemd-templates",
                "/root/.marsadm/systemd-templates",
                "/etc/marsadm/systemd-templates",
                "/usr/lib/marsadm/systemd-templates",
                "/usr/local/lib/marsadm/systemd-templates"
            ]
        );
        assert_eq!(
            search_path(Some(""), None).len(),
            4,
            "an empty MARS_PATH is unset"
        );
        let base = std::env::temp_dir().join(format!("marsadm-search-{}", std::process::id()));
        fs::create_dir_all(base.join("a/systemd-templates")).unwrap();
        let list = format!("{0}/a::{0}/b", base.display());
        assert_eq!(
            search_path(Some(list.as_str()), None),
            [base.join("a/systemd-templates"), base.join("b")]
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn generates_roots_watchers_and_references() {
        let templates = vec![
            template("daemon-helper.service", "[Service]\nExecStart=/bin/true\n"),
            template(
                "mars-@escvar{res}-trigger.path",
                "# ALWAYS_START\n[Path]\nPathChanged=/mars/resource-@{res}/systemd-trigger\nUnit=mars-@escvar{res}-trigger.service\n",
            ),
            template(
                "mars-@escvar{res}-trigger.service",
                "[Service]\nExecStart=/usr/bin/marsadm systemd-trigger-extern @{res}\n",
            ),
            template(
                "app-@escvar{res}.service",
                "[Unit]\nBindsTo=mnt-@escvar{res}.mount\nWants=other-system.service\nAfter=mnt-@escvar{res}.mount daemon-helper.service\n",
            ),
            template(
                "^{mnt}-@escvar{res}.mount",
                "[Mount]\nWhat=/dev/mars/@{res}\nWhere=/@{mnt}/@{res}\n",
            ),
            template("unused-@{res}.service", "@{nosuch}"),
        ];
        let resources = [roots("r-1", &["app-r\\x2d1.service"])];
        let out = generate(&templates, &global(), &resources).unwrap();
        let names: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "app-r\\x2d1.service",
                "daemon-helper.service",
                "mars-r\\x2d1-trigger.path",
                "mars-r\\x2d1-trigger.service",
                "mnt-r\\x2d1.mount"
            ]
        );
        let mount = &out["mnt-r\\x2d1.mount"];
        assert_eq!(mount.owner.as_deref(), Some("r-1"));
        assert!(mount
            .text
            .starts_with("### GENERATED FROM: /t/^{mnt}-@escvar{res}.mount\n"));
        assert!(mount.text.contains("### GENERATED FOR: r-1\n"));
        assert!(
            mount.text.ends_with("What=/dev/mars/r-1\nWhere=/mnt/r-1\n"),
            "{}",
            mount.text
        );
        assert_eq!(out["daemon-helper.service"].owner, None);
        assert!(out["daemon-helper.service"]
            .text
            .contains("### GENERATED FOR: -\n"));
        assert!(out["mars-r\\x2d1-trigger.path"].marker("ALWAYS_START"));
    }

    #[test]
    fn a_template_error_fails_the_whole_generation() {
        let templates = vec![
            template("a-@{res}.service", "[Unit]\nAfter=b-@{res}.service\n"),
            template("b-@{res}.service", "[Unit]\n\nDescription=@{nosuch}\n"),
        ];
        let e = generate(&templates, &global(), &[roots("r0", &["a-r0.service"])]).unwrap_err();
        let text = e.lines.join("\n");
        assert!(
            text.contains("/t/b-@{res}.service:3: unknown variable 'nosuch'"),
            "{text}"
        );
        assert!(text.contains("nothing was generated"));
        // A plain template knows no resource.
        let templates = vec![template("global.service", "x=@{res}\n")];
        let e = generate(&templates, &global(), &[]).unwrap_err();
        assert!(
            e.lines[0].contains("/t/global.service:1: unknown variable 'res'"),
            "{:?}",
            e.lines
        );
    }

    #[test]
    fn scripts_keep_their_interpreter_line_first() {
        let templates = vec![template(
            "run-@{res}.script",
            "#!/bin/sh\necho @{res} \"$1\"\n",
        )];
        let out = generate(&templates, &global(), &[roots("r0", &["run-r0.script"])]).unwrap();
        let script = &out["run-r0.script"];
        assert!(script.is_script());
        assert!(script
            .text
            .starts_with("#!/bin/sh\n### GENERATED FROM: /t/run-@{res}.script\n"));
        assert!(script.text.ends_with("###\necho r0 \"$1\"\n"));
    }

    #[test]
    fn markers_name_units() {
        let templates = vec![
            template("a-@{res}.mount", "# MOUNT_STOP\n"),
            template("b-@{res}.service", "# DEFAULT_START\n# MOUNT_START\n"),
            template("c-^{x}.service", "# ODD_START\n"),
        ];
        let vars = roots("r0", &[]).vars;
        assert_eq!(
            marked_unit(&templates, &vars, "DEFAULT_START")
                .unwrap()
                .as_deref(),
            Some("b-r0.service")
        );
        assert_eq!(
            marked_unit(&templates, &vars, "MOUNT_STOP")
                .unwrap()
                .as_deref(),
            Some("a-r0.mount")
        );
        assert_eq!(
            marked_unit(&templates, &vars, "DEFAULT_STOP").unwrap(),
            None
        );
        assert!(marked_unit(&templates, &vars, "ODD_START").is_err());
    }

    #[test]
    fn plans_write_changes_and_remove_within_scope() {
        let inst = |name: &str, owner: Option<&str>, text: &str| Instance {
            name: name.into(),
            owner: owner.map(str::to_string),
            template: PathBuf::from("/t"),
            text: text.into(),
        };
        let old = |name: &str, owner: Option<&str>, text: &str| Existing {
            name: name.into(),
            path: PathBuf::from(format!("/run/{name}")),
            owner: owner.map(str::to_string),
            text: text.into(),
        };
        let new: BTreeMap<String, Instance> = [
            inst("same.service", Some("r0"), "x"),
            inst("changed.service", Some("r0"), "new"),
            inst("fresh.script", None, "s"),
        ]
        .into_iter()
        .map(|i| (i.name.clone(), i))
        .collect();
        let existing = [
            old("same.service", Some("r0"), "x"),
            old("changed.service", Some("r0"), "old"),
            old("gone-r0.service", Some("r0"), "g"),
            old("gone-r1.service", Some("r1"), "g"),
            old("gone-global.service", None, "g"),
        ];
        let plan = Plan::new(&new, &existing, Some("r0"));
        let written: Vec<&str> = plan.write.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(written, ["changed.service", "fresh.script"]);
        let removed: Vec<&str> = plan.remove.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(removed, ["gone-r0.service"]);
        assert!(plan.needs_reload());
        let plan = Plan::new(&new, &existing, None);
        assert_eq!(plan.remove.len(), 3);
    }
}
