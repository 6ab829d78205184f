"""Completion states: the words HR systems, LMS transcripts, SCORM results and trackers use to
say whether a learner finished, in the languages their exports come in.

Two uses: the reader tells a column of completion states from other columns (``looks_like_states``),
so a status column is never ignored silently and a ``Completed?`` column is never read as a
date; validation reads each cell (``classify_state``) as done, not done, blank or unknown.

Values are compared after folding case, accents, punctuation and spaces ("Not-Started",
"not started" and "NOT_STARTED" are one value; "terminé" equals "termine"). A value that is in
neither list is never guessed: the row is ``invalid`` and names the values known.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum


class State(StrEnum):
    DONE = "done"
    NOT_DONE = "not_done"
    BLANK = "blank"
    UNKNOWN = "unknown"


# Yes/no words: a tracker's tick column. They say "done" only in a column about completion, so
# an unrecognised column holding just these (Mandatory? Active?) is not taken for one.
_YES = ("yes", "y", "true", "x", "1", "ja", "j", "oui", "si", "sim", "vrai", "wahr", "waar",
        "verdadero", "verdadeiro", "vero", "tak", "prawda", "sant", "sand", "✓", "✔", "☑", "☒")  # fmt: skip
_NO = ("no", "n", "false", "0", "nein", "non", "nao", "faux", "falsch", "onwaar", "nee",
       "falso", "nie", "falsz", "nej", "falskt", "falsk", "☐")  # fmt: skip

# Words that name a state of completion (English first, then the common HR-export languages).
_DONE = (
    # English, SCORM (completed, passed), Cornerstone / Workday / SuccessFactors transcripts
    "completed", "complete", "passed", "pass", "satisfied", "attended", "done", "finished",
    "completed successfully", "successfully completed", "completed passed", "passed completed",
    "complete passed", "achieved", "certified", "completed on time", "completed late",
    # German, French, Spanish, Portuguese, Italian, Dutch
    "abgeschlossen", "bestanden", "erledigt", "teilgenommen", "absolviert", "fertig",
    "termine", "complete", "acheve", "reussi", "valide", "fait", "present",
    "completado", "terminado", "finalizado", "aprobado", "asistio", "realizado",
    "concluido", "completo", "aprovado", "finalizado", "realizado",
    "completato", "superato", "terminato", "concluso",
    "voltooid", "afgerond", "geslaagd", "behaald", "aanwezig",
    # Nordic, Polish
    "slutford", "godkand", "gennemfort", "bestaet", "fullfort", "bestatt", "ukonczono",
    "ukonczony", "zaliczony", "zaliczone",
    # Japanese, Chinese, Korean
    "完了", "修了", "合格", "已完成", "完成", "通过", "已通过", "완료", "이수", "합격",
)  # fmt: skip
_NOT_DONE = (
    # English, SCORM (incomplete, browsed, not attempted, failed, unknown)
    "in progress", "registered", "not started", "withdrawn", "pending approval", "pending",
    "failed", "fail", "incomplete", "browsed", "not attempted", "not completed",
    "not complete", "not passed", "not satisfied", "unsatisfied", "enrolled", "started",
    "assigned", "waitlisted", "wait listed", "waiting list", "cancelled", "canceled",
    "no show", "did not attend", "absent", "dropped", "expired", "overdue", "denied",
    "rejected", "approved", "requested", "unknown", "not yet started", "open", "in review",
    "awaiting approval", "pending completion", "past due", "exempt pending",
    # German
    "in bearbeitung", "nicht begonnen", "nicht bestanden", "angemeldet", "offen",
    "abgebrochen", "ausstehend", "nicht abgeschlossen", "storniert", "nicht erschienen",
    "begonnen", "eingeschrieben", "nicht teilgenommen",
    # French
    "en cours", "non commence", "non demarre", "inscrit", "echoue", "echec", "annule",
    "en attente", "abandonne", "non termine", "non complete", "non reussi",
    # Spanish, Portuguese, Italian
    "en curso", "en progreso", "no iniciado", "inscrito", "reprobado", "suspendido",
    "cancelado", "pendiente", "no completado", "incompleto", "em andamento", "em progresso",
    "nao iniciado", "reprovado", "pendente", "nao concluido", "in corso", "non iniziato",
    "iscritto", "non superato", "annullato", "in attesa",
    # Dutch, Nordic, Polish
    "bezig", "in behandeling", "niet gestart", "ingeschreven", "gezakt", "geannuleerd",
    "niet voltooid", "onvolledig", "pagaende", "ej paborjad", "underkand", "w trakcie",
    "nierozpoczety", "niezaliczony",
    # Japanese, Chinese, Korean
    "未完了", "進行中", "未開始", "不合格", "进行中", "未开始", "未完成", "未通过", "진행 중",
    "진행중", "미완료", "불합격",
)  # fmt: skip

_PUNCT = re.compile(r"[\W_]+")


def fold_state(text: str) -> str:
    """'Not-Started ' -> 'not started'; 'Terminé' -> 'termine'; '✓' stays '✓'."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = _PUNCT.sub(" ", plain).strip()
    return words or plain.strip()  # a lone tick mark is all punctuation: keep it


YES_WORDS = frozenset(fold_state(w) for w in _YES)
NO_WORDS = frozenset(fold_state(w) for w in _NO)
DONE_WORDS = frozenset(fold_state(w) for w in _DONE) | YES_WORDS
NOT_DONE_WORDS = frozenset(fold_state(w) for w in _NOT_DONE) | NO_WORDS
_STRONG = (DONE_WORDS | NOT_DONE_WORDS) - YES_WORDS - NO_WORDS

# Shown in messages: the usual English values of each kind (the lists above are longer).
SHOWN_DONE = "Completed, Complete, Passed, Satisfied, Attended, Done, Yes, True, Y, X, 1"
SHOWN_NOT_DONE = (
    "In Progress, Registered, Not Started, Withdrawn, Pending Approval, Failed, Incomplete, "
    "Browsed, Not Attempted, No, False, N, 0"
)


def classify_state(text: str, extra_done: frozenset[str] = frozenset()) -> State:
    """What one status cell says. ``extra_done`` holds folded values the person said mean
    done (``--completed-values``); they win over the built-in lists."""
    if not text.strip():
        return State.BLANK
    key = fold_state(text)
    if key in extra_done or key in DONE_WORDS:
        return State.DONE
    if key in NOT_DONE_WORDS:
        return State.NOT_DONE
    return State.UNKNOWN


def extra_done_values(values: Iterable[str]) -> frozenset[str]:
    """``--completed-values`` as folded keys."""
    return frozenset(fold_state(v) for v in values if v.strip())


# Words in a header that make a column of yes/no values a completion column ("Finished?",
# "Training done", "Attended"), and headers that mean "completion state" only by their values.
_COMPLETION_WORDS = re.compile(
    r"complet|done|finish|pass|attend|certif|achiev|abgeschlossen|erledigt|termin|conclu|voltooid",
    re.IGNORECASE,
)


def looks_like_states(header: str, values: list[str], *, header_says: bool = False) -> bool:
    """True when a column's sampled values read as completion states.

    At least 80 % of the non-blank values must be known states, and either one of them is a
    state word (In Progress, Passed, Registered ...) or the values are yes/no words in a
    column whose header speaks of completion (``header_says``, or a word such as "completed",
    "done", "attended" in it). A column of yes/no under any other header (Mandatory?) is not.
    """
    filled = [fold_state(v) for v in values if v.strip()]
    if not filled:
        return False
    known = [v for v in filled if v in DONE_WORDS or v in NOT_DONE_WORDS]
    if len(known) < 0.8 * len(filled):
        return False
    if any(v in _STRONG for v in known):
        return True
    return header_says or bool(_COMPLETION_WORDS.search(header))
