// SPDX-License-Identifier: GPL-2.0
//! The complex macros of `marsadm view`, written in the macro language: the original's status
//! words, their precedence and line layouts (marsadm 0.1astable, `%complex_macros`).
//!
//! Differences, on purpose: a rate or open count the kernel does not publish prints `n/a` (the
//! original prints `0` and `Closed`), and `default-header` prints nothing while the kernel does not publish
//! `actual-<host>/usable` (the original's test is the same).

/// `(name, text)` of every built-in complex macro. Texts go through
/// [`super::engine::strip_comments`] (line continuations `\` newline are removed).
pub(crate) const COMPLEX: &[(&str, &str)] = &[
    (
        "default",
        r"%elsif{%is-member{}}{\
            %call{device-info}\
            %{res} %include{diskstate} %include{replstate} %include{flags} %include{role} %include{primarynode} %include{commstate}\n\
            %if{%>{%-{%disk-size{}}{%resource-size{}}}{%{threshold}}}{\
            \     Hint: you are wasting %human-numbers{}{ }{ }{%-{%disk-size{}}{%resource-size{}}} on disk %get-disk{}\n\
            }\
            %if{%>{%resource-possible-size{}}{%resource-size{}}}{\
            \     Hint: marsadm resize would increase resource %{res} by %human-numbers{}{ }{ }{%-{%resource-possible-size{}}{%resource-size{}}}\n\
            }\
            %if{%and{%not{%is-primary{}}}{%is-attach{}}}{\
              %if{%not{%sync-reached{}}}{%include{syncinfo}}\
              %if{%not{%work-reached{}}}{%include{replinfo}}\
            }\
            %call{resource-errors}\
        }{\
            %call{device-info}\
        }",
    ),
    (
        "default-resource",
        r"%if{%{res}}{%{res} %human-numbers{}{ }{ }{%resource-size{}} [%count-resource-peers{%{res}}/%count-configured-peers{}]}",
    ),
    ("default-global", r"%call{comminfo}"),
    (
        "default-header",
        r#"%if{%usable-compressions{}}{\
            used-log-compression="%used-log-compression{}"\n\
            %if{%{verbose}}{  usable: "%usable-compressions{}"\n  enabled: "%enabled-log-compressions{}"\n}\
            used-net-compression="%used-net-compression{}"\n\
            %if{%{verbose}}{  usable: "%usable-compressions{}"\n  enabled: "%enabled-net-compressions{}"\n}\
        }\
        %if{%usable-digests{}}{\
            used-log-digest="%used-log-digest{}"\n\
            %if{%{verbose}}{  usable: "%usable-digests{}"\n  disabled: "%disabled-log-digests{}"\n}\
            used-net-digest="%used-net-digest{}"\n\
            %if{%{verbose}}{  usable: "%usable-digests{}"\n  disabled: "%disabled-net-digests{}"\n}\
            %if{%global-sync-limit-value{}}{   HINT: the global-sync-limit-value is set to "%global-sync-limit-value{}"\n}\
        }"#,
    ),
    ("default-footer", ""),
    (
        "1and1",
        r"%if{%{res}}{\
            \  %{res} %include{diskstate-1and1} %include{replstate-1and1} %include{flags-1and1} %include{role-1and1} %include{primarynode-1and1}\n\
            %if{%and{%is-attach{}}{%not{%sync-reached{}}}}{%include{syncinfo-1and1}}\
            %if{%and{%is-attach{}}{%not{%work-threshold-reached{}}}}{%include{replinfo-1and1}}\
            %call{resource-errors-1and1}\
        }{%the-pretty-global-msg{}}",
    ),
    (
        "device-stats",
        r"%if{%eq{%device-opened{}}{}}{n/a}{%if{%device-opened{}}{\
            Opened, \
            %if{%known-device-mounted{}}{%known-device-mountpoint{}%if{%{verbose}}{ %known-device-fstype{} %known-device-mountflags{}}, }\
            %if{%device-error{}}{DEVICE_ERROR=%device-error{}%errno-text{%device-error{}}, }\
            %if{%ne{%device-ops-rate{}}{}}{%device-ops-rate{}}{n/a} IOPS\
            %if{%device-nrflying{}}{\
              , %device-nrflying{} Flying\
              %if{%>{%device-completion-age{}}{%{window}}}{, HANGING age: %human-seconds{%device-completion-age{}}}\
            }\
        }{Closed}}",
    ),
    (
        "device-info",
        r"%if{%device-present{}}{\  LocalDevice %get-device{} [%call{device-stats}]\n}",
    ),
    (
        "diskstate",
        r"%if{%disk-error{}}{DISK_ERROR=%disk-error{}%errno-text{%disk-error{}} }\
        %elsif{%not{%get-disk{}}}{NotJoined}\
        {%not{%disk-present{}}}{NotPresent}\
        {%not{%todo-attach{}}}{%if{%is-attach{}}{Detaching}{Detached}}\
        {%and{%replay-code{}}{%<{%replay-code{}}{0}}}{\
            %elsif{%=={%replay-code{}}{-85}}{IncompleteLog}\
            {%=={%replay-code{}}{-56}}{UnInitializedLogRecord}\
            {DefectiveLog}[%replay-code{}=%errno-text{%replay-code{}}]\
        }\
        {%is-orphan{}}{Orphan}\
        {%not{%is-attach{}}}{NoAttach}\
        {%not{%is-consistent{}}}{\
            %elsif{%not{%todo-primary{}}}{InConsistent}\
            {%is-primary{}}{WriteBack[%human-numbers{}{ }{ }{%writeback-rest{}}]}\
            {Recovery[%human-numbers{}{ }{ }{%writeback-rest{}}]}\
        }\
        {%not{%work-reached{}}}{\
            %elsif{%not{%todo-primary{}}}{OutDated[%call{outdated-flags}]}\
            {%is-primary{}}{WriteBack[%human-numbers{}{ }{ }{%writeback-rest{}}]}\
            {Recovery[%human-numbers{}{ }{ }{%writeback-rest{}}]}\
        }\
        {%and{%ne{%get-primary{}}{}}{%tmp{%let{host}{%get-primary{}}%is-emergency{}}}}{EmergencyMode}\
        {UpToDate}",
    ),
    (
        "diskstate-1and1",
        r"%if{%disk-present{}}{\
            %if{%does{attach}}{\
              %if{%is-almost-consistent{}}{\
                %if{%work-reached{}}{Uptodate}{Outdated[%call{outdated-flags-1and1}]}\
              }{Inconsistent}\
            }{Detached}\
        }{Detached}",
    ),
    (
        "outdated-flags",
        r"%if{%fetch-reached{}}{}{F}%if{%replay-reached{}}{}{R}",
    ),
    ("outdated-flags-1and1", r"%include{outdated-flags}"),
    (
        "replstate",
        r"%elsif{%not{%is-module-loaded{}}}{ModuleNotLoaded}\
        {%not{%is-alive{%{host}}}}{UnResponsive}\
        {%not{%get-disk{}}}{NotJoined}\
        {%not{%todo-attach{}}}{NotStarted}\
        {%todo-primary{}}{\
            %elsif{%is-emergency{}}{EmergencyMode}{%is-primary{}}{Replicating}{NotYetPrimary}\
        }{\
            %elsif{%and{%sync-rest{}}{%not{%todo{sync}}}}{PausedSync}\
            {%is-sync{}}{Syncing}\
            {%not{%todo{fetch}}}{PausedFetch}\
            {%not{%todo{replay}}}{PausedReplay}\
            {%not{%get-primary{}}}{NoPrimaryDesignated}\
            {%not{%is-alive{}}}{PrimaryUnreachable}\
            {%is-orphan{}}{Orphan}\
            {Replaying}\
        }",
    ),
    (
        "replstate-1and1",
        r"%if{%disk-present{}}{\
            %if{%is-primary{}}{Replicating}{\
              %if{%is-alive{}}{\
                %if{%and{%not{%sync-reached{}}}{%not{%todo{sync}}}}{PausedSync}{\
                  %if{%does{sync}}{Syncing}{\
                    %unless{%and{%todo-fetch{}}{%todo-replay{}}}{PausedReplay}{Replaying}\
                  }\
                }\
              }{PrimaryUnreachable}\
            }\
        }{NotJoined}",
    ),
    (
        "flags",
        r"%if{%disk-present{}}{%if{%device-present{}}{D}{d}}{-}\
        %if{%is-consistent{}}{C}{%if{%disk-present{}}{c}{-}}\
        %if{%does{attach}}{%if{%todo{attach}}{A}{a}}{%if{%todo{attach}}{a}{-}}\
        %if{%sync-reached{}}{S}{%if{%todo{sync}}{s}{-}}\
        %if{%fetch-reached{}}{F}{%if{%todo{fetch}}{f}{-}}\
        %if{%replay-reached{}}{R}{%if{%todo{replay}}{r}{-}}",
    ),
    (
        "flags-1and1",
        r"-%if{%todo{sync}}{S}{-}%if{%todo{fetch}}{F}{-}%if{%todo{replay}}{R}{-}-",
    ),
    (
        "todo-role",
        r"%if{%disk-present{}}{%if{%todo-primary{}}{Primary}{Secondary}}{None}",
    ),
    (
        "role",
        r"%if{%disk-present{}}{\
            %if{%todo-primary{}}{\
              %if{%is-primary{}}{%if{%>{%nr-primary{}}{1}}{Forced}Primary}{NotYetPrimary}\
            }{\
              %if{%is-primary{}}{RemainsPrimary}{Secondary}\
            }\
        }{None}",
    ),
    (
        "role-1and1",
        r"%if{%disk-present{}}{%if{%is-primary{}}{Primary}{Secondary}}{Secondary}",
    ),
    (
        "primarynode",
        r"%if{%todo-primary{}}{%{host}}{%get-primary{}}",
    ),
    (
        "primarynode-1and1",
        r"%if{%disk-present{}}{\
            %if{%is-primary{}}{%{host}}{%if{%actual-primary{}}{%actual-primary{}}{-}}\
        }{-}",
    ),
    (
        "commstate",
        r"%let{comm}{%alive-age{}}%if{%>={%{comm}}{%{window}}}{%human-seconds{%{comm}}}",
    ),
    (
        "syncinfo",
        r"%let{amount}{%human-numbers{}{ }{ }{%sync-pos{}}{%sync-size{}}}\
        %let{rate}{%if{%ne{%sync-rate{}}{}}{%human-numbers{}{ }{ }{%sync-rate{}}}{n/a}}\
        %sprintf{     syncing: %s  %.2f%%  (%d/%d)%s  rate: %s/sec  remaining: %s hrs\n}\
          {%progress{20}{%sync-pos{}}{0}{%sync-size{}}}{%sync-percent{}}\
          {%{amount}{ }{0}}{%{amount}{ }{1}}{%{amount}{ }{2}}{%{rate}}\
          {%human-seconds{%sync-remain{}}}\
        %call{sync-line}",
    ),
    (
        "syncinfo-1and1",
        r"%let{amount}{%human-numbers{}{ }{ }{%sync-pos{}}{%sync-size{}}}\
        %let{rate}{%if{%ne{%sync-rate{}}{}}{%human-numbers{}{ }{ }{%sync-rate{}}}{n/a}}\
        %sprintf{     syncing: %s  %.2f%%  (%d/%d)%s  rate: %s/sec  remaining: %s hrs\n}\
          {%progress{20}{%sync-pos{}}{0}{%sync-size{}}}{%sync-percent{}}\
          {%{amount}{ }{0}}{%{amount}{ }{1}}{%{amount}{ }{2}}{%{rate}}\
          {%human-seconds{%sync-remain{}}}\
        %call{sync-line-1and1}",
    ),
    (
        "replinfo",
        r"%let{amount}{%human-numbers{}{ }{ }{%replay-pos{}}{%fetch-size{}}}\
        %let{logs}{%replay-lognr{}}%let{l2}{%fetch-lognr{}}%let{l3}{%work-lognr{}}\
        %if{%>{%{l2}}{%{logs}}}{%append{logs}{::%{l2}}}\
        %if{%>{%{l3}}{%{l2}}}{%append{logs}{..%{l3}}}\
        %sprintf{     replaying: %s  %.2f%%  (%d/%d)%s  logs: [%s]\n}\
          {%progress{20}{%replay-pos{}}{%fetch-pos{}}{%fetch-size{}}}{%work-percent{}}\
          {%{amount}{ }{0}}{%{amount}{ }{1}}{%{amount}{ }{2}}{%{logs}}\
        %call{fetch-line}%call{replay-line}",
    ),
    (
        "replinfo-1and1",
        r"%let{amount}{%human-numbers{}{ }{ }{%replay-pos{}}{%fetch-size{}}}\
        %sprintf{     replaying: %s  %.2f%%  (%d/%d)%s  logs: [%d..%d]\n}\
          {%progress{20}{%replay-pos{}}{%fetch-pos{}}{%fetch-size{}}}{%work-percent{}}\
          {%{amount}{ }{0}}{%{amount}{ }{1}}{%{amount}{ }{2}}\
          {%replay-lognr{}}{%fetch-lognr{}}\
        %call{fetch-line-1and1}%call{replay-line-1and1}",
    ),
    (
        "sync-line",
        r"%let{amount}{%human-numbers{}{}{}{%sync-pos{}}{%sync-size{}}}\
        %let{rate}{%if{%ne{%sync-rate{}}{}}{%human-numbers{}{}{}{%sync-rate{}}}{n/a}}\
        %let{remain}{%human-seconds{%sync-remain{}}}\
        \       > sync: %{amount} rate: %{rate}/sec  remaining: %{remain} hrs\n",
    ),
    ("sync-line-1and1", r"%include{sync-line}"),
    (
        "fetch-line",
        r"%let{amount}{%human-numbers{}{}{}{%fetch-rest{}}}\
        %let{rate}{%if{%ne{%fetch-rate{}}{}}{%human-numbers{}{}{}{%fetch-rate{}}}{n/a}}\
        %let{remain}{%human-seconds{%fetch-remain{}}}\
        %let{my-age}{%fetch-age{}}\
        %let{has-age}{%and{%fetch-rest{}}{%>={%{my-age}}{%{window}}}}\
        %if{%and{%{has-age}}{%is-module-loaded{}}{%>{%{my-age}}{%{stuck-seconds}}}}{\
          %warn{replay of %{res} appears to be stuck for ~%human-seconds{%{my-age}}\n}\
        }\
        %let{age}{%if{%{has-age}}{ age: %human-seconds{%{my-age}}}}\
        %let{lag}{%if{%and{%fetch-rest{}}{%>={%fetch-lag{}}{%{window}}}}{ lag: %human-seconds{%fetch-lag{}}}}\
        \       > fetch: %{amount}%{age}%{lag} rate: %{rate}/s remaining: %{remain}\n",
    ),
    (
        "fetch-line-1and1",
        r"%let{amount}{%human-numbers{}{}{}{%fetch-rest{}}}\
        %let{rate}{%if{%ne{%fetch-rate{}}{}}{%human-numbers{}{}{}{%fetch-rate{}}}{n/a}}\
        %let{remain}{%human-seconds{%fetch-remain{}}}\
        \       > fetch: %{amount} rate: %{rate}/sec  remaining: %{remain} hrs\n",
    ),
    (
        "replay-line",
        r"%let{amount}{%human-numbers{}{}{}{%replay-rest{}}}\
        %let{rate}{%if{%ne{%replay-rate{}}{}}{%human-numbers{}{}{}{%replay-rate{}}}{n/a}}\
        %let{remain}{%human-seconds{%replay-remain{}}}\
        %let{age}{%if{%and{%replay-rest{}}{%>={%replay-age{}}{%{window}}}}{ age: %human-seconds{%replay-age{}}}}\
        \       > replay: %{amount}%{age} rate: %{rate}/s remaining: %{remain}\n",
    ),
    (
        "replay-line-1and1",
        r"%let{amount}{%human-numbers{}{}{}{%replay-rest{}}}\
        %let{rate}{%if{%ne{%replay-rate{}}{}}{%human-numbers{}{}{}{%replay-rate{}}}{n/a}}\
        %let{remain}{%human-seconds{%replay-remain{}}}\
        \       > replay: %{amount} rate: %{rate}/sec  remaining: %{remain} hrs\n",
    ),
    (
        "resource-errors",
        r"%let{fat-count}{%get-resource-fat-count{}}\
        %if{%{fat-count}}{FATALS   FILE (%{fat-count})%if{%{verbose}}{:\n%get-resource-fat{}}{: available with --verbose\n}}\
        %let{errs}{%the-err-count{}}\
        %if{%{errs}}{ERRORS   LNK  (%{errs}):\n%the-pretty-err-msg{}}\
        %let{err-count}{%get-resource-err-count{}}\
        %if{%{err-count}}{ERRORS   FILE (%{err-count})%if{%{verbose}}{:\n%get-resource-err{}}{: available with --verbose\n}}\
        %let{wrns}{%the-wrn-count{}}\
        %if{%{wrns}}{WARNINGS LNK  (%{wrns}):\n%the-pretty-wrn-msg{}}\
        %let{wrn-count}{%get-resource-wrn-count{}}\
        %if{%and{%{verbose}}{%{wrn-count}}}{WARNINGS FILE (%{wrn-count}):\n%get-resource-wrn{}}\
        %let{infs}{%the-inf-count{}}\
        %if{%and{%>={%{verbose}}{2}}{%{infs}}}{INFOS    LNK  (%{infs}):\n%the-pretty-inf-msg{}}\
        %let{status_msg}{%get-log-status{}}\
        %if{%and{%>={%{verbose}}{2}}{%{status_msg}}}{STATUS   FILE:\n%{status_msg}}",
    ),
    (
        "resource-errors-1and1",
        r"%let{fat-count}{%get-resource-fat-count{}}\
        %if{%{fat-count}}{FATALS   FILE (%{fat-count}):\n%get-resource-fat{}}\
        %let{errs}{%the-err-count{}}\
        %if{%{errs}}{ERRORS   LNK  (%{errs}):\n%the-pretty-err-msg{}}\
        %let{err-count}{%get-resource-err-count{}}\
        %if{%{err-count}}{ERRORS   FILE (%{err-count}):\n%get-resource-err{}}\
        %let{wrns}{%the-wrn-count{}}\
        %if{%{wrns}}{WARNINGS LNK  (%{wrns}):\n%the-pretty-wrn-msg{}}\
        %let{wrn-count}{%get-resource-wrn-count{}}\
        %if{%and{%{verbose}}{%{wrn-count}}}{WARNINGS FILE (%{wrn-count}):\n%get-resource-wrn{}}\
        %let{infs}{%the-inf-count{}}\
        %if{%and{%{verbose}}{%{infs}}}{INFOS    LNK  (%{infs}):\n%the-pretty-inf-msg{}}\
        %let{status_msg}{%get-log-status{}}\
        %if{%and{%{verbose}}{%{status_msg}}}{STATUS   FILE:\n%{status_msg}}",
    ),
    (
        "comminfo",
        r"%let{txt}{%the-pretty-global-msg{}}\
        %let{txt}{%subst{%{txt}}{^.*CONNECTED.*$\n*}{}{mg}}\
        %if{%{txt}}{++++++++++++ Global / Communication Status ++++++++++++\n%{txt}}\
        %let{timeslip}{%-{%time{}}{%real-time{}}}\
        %if{%>{%{timeslip}}{%{window}}}{++++++++++++ Lamport time slip: %human-seconds{%{timeslip}} ++++++++++++\n}",
    ),
    // The DRBD-like ones: the original leaves them to the operator's macro files.
    ("state", r"NYI Please override macro \%%{0}\{\}"),
    ("cstate", r"NYI Please override macro \%%{0}\{\}"),
    ("dstate", r"NYI Please override macro \%%{0}\{\}"),
    ("status", r"NYI Please override macro \%%{0}\{\}"),
];

/// The text of a built-in complex macro.
pub(crate) fn complex(name: &str) -> Option<&'static str> {
    COMPLEX.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
