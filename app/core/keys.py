"""Every Redis key Qianfa writes, built in one place under the ``qianfa:`` namespace."""

NS = "qianfa"


def sequence(kind: str) -> str:
    return f"{NS}:seq:{kind}"


def unit(unit_id: str) -> str:
    return f"{NS}:unit:{unit_id}"


def units() -> str:
    return f"{NS}:units"


def unit_names() -> str:
    return f"{NS}:unit-names"


def platform(platform_id: str) -> str:
    return f"{NS}:platform:{platform_id}"


def platforms() -> str:
    return f"{NS}:platforms"


def platform_admins(platform_id: str) -> str:
    return f"{NS}:platform:{platform_id}:admins"


def platform_filings(platform_id: str) -> str:
    return f"{NS}:platform:{platform_id}:filings"


def platform_drafts(platform_id: str) -> str:
    return f"{NS}:platform:{platform_id}:drafts"


def platform_secrets(platform_id: str) -> str:
    return f"{NS}:platform:{platform_id}:secrets"


def platform_by_appid(appid: str) -> str:
    return f"{NS}:appid:{appid}"


def person(person_id: str) -> str:
    return f"{NS}:person:{person_id}"


def people() -> str:
    return f"{NS}:people"


def person_roles(person_id: str) -> str:
    return f"{NS}:person:{person_id}:roles"


def person_bindings(person_id: str) -> str:
    return f"{NS}:person:{person_id}:bindings"


def person_home(person_id: str) -> str:
    """``platform|openid``: the binding a person is reached through about other platforms."""
    return f"{NS}:person:{person_id}:home"


def binding(platform_id: str, openid: str) -> str:
    return f"{NS}:binding:{platform_id}:{openid}"


def bind_code(code_digest: str) -> str:
    return f"{NS}:bindcode:{code_digest}"


def draft(draft_id: str) -> str:
    return f"{NS}:draft:{draft_id}"


def draft_version(draft_id: str, number: int) -> str:
    return f"{NS}:draft:{draft_id}:v{number}"


def draft_signoffs(draft_id: str) -> str:
    return f"{NS}:draft:{draft_id}:signoffs"


def drafts() -> str:
    return f"{NS}:drafts"


def audit_stream() -> str:
    return f"{NS}:audit"


def audit_head() -> str:
    return f"{NS}:audit:head"


def replica_probe() -> str:
    """String: a counter written after a durable change so that WAIT counts from there
    (``app.core.replicas``)."""
    return f"{NS}:replicas:probe"


def audit_anchor() -> str:
    return f"{NS}:audit:anchor"


def audit_verified() -> str:
    return f"{NS}:audit:verified"


def master_key_check() -> str:
    return f"{NS}:credentials:keycheck"


def alerts() -> str:
    return f"{NS}:alerts"


def chat_session(platform_id: str, openid: str) -> str:
    return f"{NS}:chat_session:{platform_id}:{openid}"


def chat_seen(draft_id: str, person_id: str) -> str:
    return f"{NS}:chat_seen:{draft_id}:{person_id}"


def bind_attempts(platform_id: str, openid: str) -> str:
    return f"{NS}:bind_attempts:{platform_id}:{openid}"


def api_token(token_id: str) -> str:
    return f"{NS}:apitoken:{token_id}"


def api_tokens() -> str:
    return f"{NS}:apitokens"


def api_token_by_digest(digest: str) -> str:
    return f"{NS}:apitoken-digest:{digest}"


def person_api_tokens(person_id: str) -> str:
    return f"{NS}:person:{person_id}:apitokens"


def api_idempotency(token_id: str, key_digest: str) -> str:
    return f"{NS}:api:idempotency:{token_id}:{key_digest}"


def upload(digest: str) -> str:
    return f"{NS}:upload:{digest}"


def wechat_token(appid: str) -> str:
    """Hash: the account's shared access token, its kind and when to refresh it."""
    return f"{NS}:wechat:token:{appid}"


def wechat_token_lock(appid: str) -> str:
    return f"{NS}:wechat:token-lock:{appid}"


def wechat_paused(platform_id: str) -> str:
    """Present (with a TTL until the quota resets) while the platform's publishing waits."""
    return f"{NS}:wechat:paused:{platform_id}"


def draft_screening(draft_id: str, number: int) -> str:
    return f"{NS}:draft:{draft_id}:v{number}:screening"


def webhook_config(platform_id: str) -> str:
    return f"{NS}:webhook:{platform_id}:config"


def webhook_nonce(platform_id: str, timestamp: str, nonce: str) -> str:
    return f"{NS}:webhook:{platform_id}:nonce:{timestamp}:{nonce}"


def webhook_dedup(platform_id: str, digest: str) -> str:
    return f"{NS}:webhook:{platform_id}:dedup:{digest}"


def webhook_refusals(bucket: str) -> str:
    """Refusal counters by reason, for ``qianfa webhook show`` and /healthz."""
    return f"{NS}:webhook:{bucket}:refusals"


def webhook_refusal_window(bucket: str, window: int) -> str:
    return f"{NS}:webhook:{bucket}:refused:{window}"


def webhook_forged_window(bucket: str, window: int) -> str:
    return f"{NS}:webhook:{bucket}:forged:{window}"


def publish_events() -> str:
    """PUBLISHJOBFINISH events as WeChat sent them, one entry per publish_id and status."""
    return f"{NS}:wechat:publish-events"


def dispatchers() -> str:
    """Hash: dispatcher name -> its last heartbeat (JSON), for /healthz."""
    return f"{NS}:dispatchers"


def periodic(name: str) -> str:
    """Present while a periodic job's interval runs; whoever sets it enqueues the job."""
    return f"{NS}:periodic:{name}"


def contact(platform_id: str, openid: str) -> str:
    """Hash: when the user last wrote to the account, and messages sent since (48 h window)."""
    return f"{NS}:contact:{platform_id}:{openid}"


def platform_notify(platform_id: str) -> str:
    """Hash: how Qianfa reaches people on this account (the template message id)."""
    return f"{NS}:platform:{platform_id}:notify"


def notified(token: str) -> str:
    """Claim of one notification (or one raised alert), so a job run twice sends once."""
    return f"{NS}:notified:{token}"


def review_clock(draft_id: str) -> str:
    """Hash: the version waiting for review and since when, for reminders."""
    return f"{NS}:draft:{draft_id}:review-clock"


def alert_fold(kind: str, platform_id: str, draft_id: str) -> str:
    """The first alert of a fold window for identical alerts; expires with the window."""
    return f"{NS}:alert-fold:{kind}:{platform_id}:{draft_id}"


def alert_fold_counts() -> str:
    """Hash: first alert id of a fold window -> alerts folded into it since."""
    return f"{NS}:alert-fold-counts"


def publication(draft_id: str, version: int) -> str:
    """Hash: the durable state of publishing one version of a draft (``app.publishing.record``)."""
    return f"{NS}:publication:{draft_id}:v{version}"


def publications_active() -> str:
    """Sorted set of ``<draft>:v<version>`` not yet finished, scored by when they are next due."""
    return f"{NS}:publications:active"


def publication_lease(draft_id: str) -> str:
    """Held (with a TTL) by the one job that is advancing this draft's publication."""
    return f"{NS}:publication-lease:{draft_id}"


def publish_id(publish_id: str) -> str:
    """WeChat's publish_id -> ``<draft>:v<version>``, to recognise our PUBLISHJOBFINISH."""
    return f"{NS}:publish-id:{publish_id}"


def platform_publishing(platform_id: str) -> str:
    """Hash: the platform's publishing settings (``mass_preview`` on or off)."""
    return f"{NS}:platform:{platform_id}:publishing"


def console_password(person_id: str) -> str:
    """Hash: a person's console password hash, whether it must change, and when it was set."""
    return f"{NS}:console:password:{person_id}"


def console_session(digest: str) -> str:
    """Hash: one signed-in console session, under the SHA-256 of its cookie; expires when idle."""
    return f"{NS}:console:session:{digest}"


def console_failures(kind: str, subject: str) -> str:
    """Failed sign-ins of one account-and-address pair (hash) or one address (counter)."""
    return f"{NS}:console:failures:{kind}:{subject}"


def console_generation(person_id: str) -> str:
    """Counter bumped by every password change or reset: older sessions of the person end."""
    return f"{NS}:console:generation:{person_id}"


def console_refusals() -> str:
    """Hash: console refusals before sign-in by reason, complete (``app.core.capped``)."""
    return f"{NS}:console:refusals"


def console_refusal_window(window: int) -> str:
    return f"{NS}:console:refused:{window}"


def console_first_account() -> str:
    """The person id of the first propaganda-department account ``qianfa run`` created."""
    return f"{NS}:console:first-account"


def filing(filing_id: str) -> str:
    """Hash: one filing form (审批表), its fields and sign-off steps (``app.registry.filings``)."""
    return f"{NS}:filing:{filing_id}"


def platform_forms(platform_id: str) -> str:
    """List of a platform's filing form ids, oldest first."""
    return f"{NS}:platform:{platform_id}:forms"


def pending_uploads(person_id: str) -> str:
    """Sorted set: the person's uploads no draft uses yet, scored by when they expire."""
    return f"{NS}:person:{person_id}:pending-uploads"


def alert_case(number: str) -> str:
    """Hash: one alert and its handling state (``app.core.alertstate``), by number (A12)."""
    return f"{NS}:alert-case:{number}"


def alerts_day(day: str) -> str:
    """Sorted set: numbers of the alerts raised on a Beijing day (``YYYY-MM-DD`` of their
    ``at``), scored by number, so the daily report reads that day's alerts only."""
    return f"{NS}:alerts-day:{day}"


def alerts_open() -> str:
    """Sorted set: numbers of alerts not yet resolved, scored by when they were raised."""
    return f"{NS}:alerts-open"


def published_article(article_id: str) -> str:
    """WeChat's article_id -> ``<draft>:v<version>``: an article Qianfa published."""
    return f"{NS}:published-article:{article_id}"


def online_articles(platform_id: str) -> str:
    """Hash: article_id -> what reconciliation knows of it (``app.monitoring.reconcile``)."""
    return f"{NS}:platform:{platform_id}:online"


def online_pending(platform_id: str) -> str:
    """Set: article ids online that may be Qianfa's own publication still being settled."""
    return f"{NS}:platform:{platform_id}:online-pending"


def monitoring(platform_id: str) -> str:
    """Hash: a platform's reconciliation state: last round, failures, retry time, status."""
    return f"{NS}:platform:{platform_id}:monitoring"


def monitoring_claim(what: str) -> str:
    """A raised monitoring alert, so one article (or version) raises one alert."""
    return f"{NS}:monitoring-claim:{what}"


def platform_site(platform_id: str) -> str:
    """Hash: a non-WeChat platform's registered domain and feed (``app.registry.sites``)."""
    return f"{NS}:platform:{platform_id}:site"


def manual_pending() -> str:
    """Sorted set: ``<draft>:v<version>`` approved for a manual platform and not yet
    reported as published, scored by when its reminder is due (``app.publishing.manual``)."""
    return f"{NS}:publications:manual"


def published_page(url_hash: str) -> str:
    """Hash: a page Qianfa verified or saw in a feed: platform, draft, text hash, url."""
    return f"{NS}:published-page:{url_hash}"


def platform_pages(platform_id: str) -> str:
    """Set: hashes of the page URLs known for a platform (``keys.published_page``)."""
    return f"{NS}:platform:{platform_id}:pages"


def feed_state(platform_id: str) -> str:
    """Hash: a platform feed's polling state: last success, failing since, error, next due."""
    return f"{NS}:platform:{platform_id}:feed-state"


def manual_check(draft_id: str) -> str:
    """Hash: the latest report of a draft's page published by hand and its check (state,
    verdict or error), written when reported and when the job has checked it."""
    return f"{NS}:draft:{draft_id}:manual-check"


def pictures_told(draft_id: str, content_hash: str) -> str:
    """Set: reviewers told that this version's picture checks were running, to be told the
    outcome when they finish (``app.notify.draft_notices``)."""
    return f"{NS}:draft:{draft_id}:pictures-told:{content_hash}"


# Draft listings (``app.drafts.listing``): sorted sets scored by creation time, per platform
# and across all of them (``scope`` is a platform id or ``*``).


def drafts_in(status: str, scope: str) -> str:
    """Sorted set: drafts in one status."""
    return f"{NS}:drafts:{scope}:status:{status}"


def drafts_by(author: str, scope: str) -> str:
    """Sorted set: one person's drafts."""
    return f"{NS}:drafts:{scope}:author:{author}"


def drafts_awaiting(signoff: str, scope: str) -> str:
    """Sorted set: drafts in review still missing this sign-off."""
    return f"{NS}:drafts:{scope}:awaiting:{signoff}"


def drafts_waiting_since(scope: str) -> str:
    """Sorted set: drafts in review, scored by when they entered review."""
    return f"{NS}:drafts:{scope}:review-since"


def drafts_published_at(platform_id: str) -> str:
    """Sorted set: a platform's published drafts, scored by when they were published (the
    inventory's last publication, the daily report's count)."""
    return f"{NS}:drafts:{platform_id}:published-at"


def online_newest() -> str:
    """Sorted set: platform id -> the newest ``update_time`` reconciliation saw online."""
    return f"{NS}:online-newest"


def picture_text(digest: str) -> str:
    """Hash: the text OCR read in a picture with this SHA-256, or why it could not
    (``app.drafts.picture_text``), so a picture is read once whatever draft holds it."""
    return f"{NS}:picture-text:{digest}"


def draft_pictures(draft_id: str, number: int) -> str:
    """String (JSON): what was read in each picture of a draft version, with its content hash
    (``app.screening.pictures``); absent while the picture checks are running."""
    return f"{NS}:draft:{draft_id}:v{number}:pictures"


def draft_rejection(draft_id: str) -> str:
    """Hash: who sent the draft back last, as what, when and why (``review.rejection``)."""
    return f"{NS}:draft:{draft_id}:rejection"


# --- watching what is published (issue 15: reports, mass sends, replies to followers) ---


def published_mass(platform_id: str, msg_id: str) -> str:
    """WeChat's mass-send msg_id -> ``<draft>:v<version>``: a mass send Qianfa made."""
    return f"{NS}:platform:{platform_id}:published-mass:{msg_id}"


def report_quota(person_id: str) -> str:
    """Sorted set: when a person reported problems lately (``app.monitoring.reports``)."""
    return f"{NS}:person:{person_id}:reports"


def reply_proposal(platform_id: str) -> str:
    """Hash: a follower reply waiting for the first responsible person (``app.webhook.replies``)."""
    return f"{NS}:platform:{platform_id}:reply-proposal"


def draft_release(draft_id: str, number: int) -> str:
    """String (JSON): the propaganda department's release (放行) of a version's blocking hits,
    with who, why and the content hash (``app.drafts.release``)."""
    return f"{NS}:draft:{draft_id}:v{number}:release"


def lexicon_history() -> str:
    """List (JSON, newest first): each lexicon version made through Qianfa, with who made it
    and what changed (``app.screening.lexicon_store``); the lists themselves are files."""
    return f"{NS}:lexicon:history"


def lexicon_edit() -> str:
    """String: the lease of the one lexicon edit running (console or CLI), so none is lost."""
    return f"{NS}:lexicon:edit"
