"""Dead letters: grouped by stage, connector and reason; one opened (decoded where its
topic carries Avro, the reporter hidden); a selection replayed by a national operator: a
dry run first, then a confirmation, then the replay itself in the background with its
progress, through hub.ops.deadletters (lapor.replays and the audit trail record it)."""

from __future__ import annotations

import json
import threading
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from hub import audit, topics
from hub.console.context import Console, Refused
from hub.errors import HubError
from hub.ops.deadletters import Filter, letter_content, replay, replay_audited
from hub.privacy import mask_contacts

MAX_SELECTED = 1000  # letters in one replay from the console; the CLI takes any number
SHOWN = 200
KEPT_JOBS = 50


def routes(console: Console) -> list[Route]:
    def chosen_filter(request: Request) -> Filter:
        params = request.query_params
        stage = params.get("stage", "")
        return Filter(
            stages=(stage,) if stage in topics.STAGES else topics.STAGES,
            connector=params.get("connector") or None,
            error_class=params.get("error_class") or None,
        )

    def selected(user, ids: list[str]):
        letters = []
        for letter_id in ids[:MAX_SELECTED]:
            letter = console.letters.get(letter_id)
            if letter is None or not console.may_see_letter(user, letter):
                raise Refused(404, "not_found")
            letters.append(letter)
        return letters

    async def overview(request: Request):
        user = console.user(request)
        chosen = chosen_filter(request)
        reason = request.query_params.get("reason", "")
        letters = console.letters.chosen(
            chosen, keep=lambda letter: console.may_see_letter(user, letter)
        )
        groups = console.letters.groups(letters)
        if reason:
            letters = [x for x in letters if mask_contacts(x.reason[:80]) == reason]
        return console.render(
            request,
            "letters.html",
            groups=groups,
            letters=letters[:SHOWN],
            more=max(0, len(letters) - SHOWN),
            replayed=console.letters.was_replayed,
            chosen=chosen,
            reason=reason,
            stages=topics.STAGES,
        )

    async def one(request: Request):
        user = console.user(request)
        letter_id = request.path_params["letter_id"]
        letter = console.letters.get(letter_id)
        if letter is None or not console.may_see_letter(user, letter):
            raise Refused(404, "not_found")
        try:
            letter = await run_in_threadpool(console.letters.whole, console.bootstrap, letter)
            content = await run_in_threadpool(
                letter_content, console.bootstrap, letter, console.serializer.codec, False
            )
        except HubError as exc:
            content = None
            error = exc.message
        else:
            error = None
        decoded = (
            json.dumps(content.decoded, default=str, indent=2, ensure_ascii=False)
            if content is not None and content.decoded is not None
            else None
        )
        return console.render(
            request,
            "letter.html",
            letter=letter,
            content=content,
            decoded=decoded,
            error=error,
            replayed=console.letters.was_replayed(letter.id),
        )

    async def replay_form(request: Request):
        user = await console.changing(request, "national")
        form = await request.form()
        ids = [str(i) for i in form.getlist("letter")]
        letters = selected(user, ids)
        chosen = Filter(ids=tuple(letter.id for letter in letters))
        again = form.get("again") == "1"
        if form.get("confirm") != "1":
            preview = await run_in_threadpool(
                replay, console.bootstrap, letters, chosen, dry_run=True, again=again
            )
            return console.render(
                request, "replay.html", letters=letters, preview=preview, again=again, job=None
            )
        letters = [
            await run_in_threadpool(console.letters.whole, console.bootstrap, x) for x in letters
        ]
        job = uuid.uuid4().hex[:12]
        console.replays[job] = {"done": 0, "total": len(letters), "result": None, "error": None}
        for old in list(console.replays)[:-KEPT_JOBS]:  # the progress of recent replays only
            del console.replays[old]

        def run() -> None:
            progress = console.replays[job]
            token = audit.ACTING_AS.set(user.audit_name)
            try:
                progress["result"] = replay_audited(
                    console.bootstrap,
                    letters,
                    chosen,
                    again=again,
                    on_progress=lambda n: progress.update(done=n),
                )
            except (HubError, RuntimeError) as exc:
                progress["error"] = getattr(exc, "message", str(exc))
            finally:
                audit.ACTING_AS.reset(token)

        threading.Thread(target=run, daemon=True, name=f"replay-{job}").start()
        return console.render(
            request,
            "replay.html",
            letters=letters,
            preview=None,
            again=again,
            job=job,
            progress=console.replays[job],
        )

    async def progress(request: Request):
        console.user(request, "national")
        job = request.path_params["job"]
        state = console.replays.get(job)
        if state is None:
            raise Refused(404, "not_found")
        return console.render(
            request, "replay.html", letters=[], preview=None, again=False, job=job, progress=state
        )

    return [
        Route("/letters", overview),
        Route("/letters/replay", replay_form, methods=["POST"]),
        Route("/letters/jobs/{job}", progress),
        Route("/letters/{letter_id}", one),
    ]
