"""Muster's `MClientAPI`: submit jobs to Corral and query them from any Python 3.7+.

The standard library only, so that it imports inside Maya's, Nuke's, Houdini's and
Blender's own Pythons: put the folder `corral compat-path` prints on PYTHONPATH.
A studio's Muster submission script runs as written::

    import MClientAPI

    err = MClientAPI.InitializeLibrary("")
    session = MClientAPI.InitializeSession()
    err = MClientAPI.Connect(session, "farm", 9781)
    err = MClientAPI.Authenticate(session, "td", "secret")
    job = MClientAPI.MJob()
    job.setName("shot010"); job.setTemplateID(3); job.setPacketSize(5)
    job.attributeSetString("job_file", "/proj/shot010/render.py")
    job.attributeSetFloat("start_frame", 1); job.attributeSetFloat("end_frame", 100)
    err = MClientAPI.ActionSendJob(session, job)
    if err.getErrorCode() != 0:
        print(err.getDescription())
    print(job.getJobId())
    MClientAPI.Disconnect(session)

Every call returns an `MError` first (`getErrorCode()` 0 on success, `getDescription()`);
the queries return `(err, value)`. Calls never raise for a failure of the farm or the
network, only for a programming error (a wrong type given to a setter). The library is
a client of Muster 9's REST API, which Corral serves on its compat port (9781) and its
HTTP port (9890); docs/console.md ("MClientAPI") has the whole reference.

`GetPlatform()` and the `kPlatform*` constants also serve render-client templates.
"""

import os
import sys
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple, Union

try:  # beside it in the compat folder, and at the root of a Corral checkout
    from corral_client import Client, ClientError
except ImportError:  # pragma: no cover - a broken install
    Client = None  # type: ignore[assignment,misc]
    ClientError = Exception  # type: ignore[assignment,misc]

__all__ = [
    "DEFAULT_PORT",
    "MChunk",
    "MError",
    "MJob",
    "MNode",
    "MSession",
    "MTemplateInfo",
    "ActionDeleteJob",
    "ActionGetChunkLog",
    "ActionGetChunks",
    "ActionGetJob",
    "ActionGetJobs",
    "ActionGetNodes",
    "ActionGetTemplates",
    "ActionPauseJob",
    "ActionReinitJob",
    "ActionResumeJob",
    "ActionSendJob",
    "Authenticate",
    "Connect",
    "Disconnect",
    "GetPlatform",
    "InitializeLibrary",
    "InitializeSession",
    "kPlatformLinux",
    "kPlatformMac",
    "kPlatformWindows",
]

# Platforms: the values of MTemplateAPI's constants (a test keeps them equal).
kPlatformWindows = 0
kPlatformMac = 1
kPlatformLinux = 2

# Template logic, for MJob.setPacketType: MTemplateAPI's values, for scripts that run
# outside Corral's environment, where MTemplateAPI is not importable.
kTemplateMultiframe = 1
kTemplateImageSlicing = 2
kTemplateBroadcast = 3
kTemplateTargetHost = 4

# Error codes of MError. An answer of the dispatcher that refuses a call carries its HTTP
# status (400 invalid, 401 wrong password or token, 403 not allowed, 404 no such job,
# 413 too large, 422 refused by a template hook, 429 too many attempts, 503 store
# unavailable); failures on this side have these codes.
kErrorNone = 0
kErrorNotConnected = 1
kErrorConnectionFailed = 2
kErrorTimeout = 3
kErrorNotAuthenticated = 4
kErrorInvalidArgument = 5
kErrorProtocol = 6

DEFAULT_PORT = 9781
DEFAULT_TIMEOUT_S = 30.0
# Connect's probe waits at most this long for a host that does not answer.
CONNECT_TIMEOUT_S = 10.0
MAX_NAME_CHARS = 255
MAX_ATTRIBUTES = 1000
MAX_ATTRIBUTE_VALUE_CHARS = 1024 * 1024
MAX_DEPENDS = 1000
MAX_PRIORITY = 65535
PAGE_SIZE = 1000
LIBRARY = "Corral MClientAPI 1.0"

_library_initialized = False


def GetPlatform() -> int:
    """The platform this code runs on: kPlatformWindows, kPlatformMac or kPlatformLinux."""
    if sys.platform.startswith(("win", "cygwin")):
        return kPlatformWindows
    if sys.platform == "darwin":
        return kPlatformMac
    return kPlatformLinux


# -- results -----------------------------------------------------------------------------
class MError:
    """What a call did: `getErrorCode()` 0 on success, else a kError* code or the HTTP
    status the dispatcher refused the call with; `getDescription()` one sentence."""

    def __init__(self, code: int = kErrorNone, description: str = "") -> None:
        self._code = int(code)
        self._description = str(description)

    def getErrorCode(self) -> int:
        return self._code

    def getDescription(self) -> str:
        return self._description

    def __repr__(self) -> str:
        return "MError(%d, %r)" % (self._code, self._description)


def _ok() -> MError:
    return MError(kErrorNone, "")


class _Refused(Exception):
    """A call's failure on its way to an MError."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


# -- the session -------------------------------------------------------------------------
class MSession:
    """One connection's state: the dispatcher's address, the token Authenticate got, and
    `setTimeout(seconds)` for each call (30 s by default)."""

    def __init__(self) -> None:
        self._url = ""
        self._token = ""
        self._user = ""
        self._timeout_s = DEFAULT_TIMEOUT_S

    def setTimeout(self, seconds: float) -> None:
        seconds = float(seconds)
        if not seconds > 0:
            raise ValueError("the timeout must be more than 0 seconds, not %r" % (seconds,))
        self._timeout_s = seconds

    def getTimeout(self) -> float:
        return self._timeout_s

    def isConnected(self) -> bool:
        return bool(self._url)

    def isAuthenticated(self) -> bool:
        return bool(self._token)

    def getUser(self) -> str:
        return self._user

    def getURL(self) -> str:
        return self._url

    def _client(self, timeout_s: Optional[float] = None) -> Any:
        if Client is None:
            raise _Refused(kErrorProtocol, "corral_client is missing beside MClientAPI")
        tls = {key: value for key, value in os.environ.items() if key == "CORRAL_TLS_CA"}
        client = Client(self._url, token=None, timeout_s=timeout_s or self._timeout_s, env=tls)
        client.token = self._token or None
        return client

    def _call(
        self,
        method: str,
        path: str,
        query: Optional[Dict[str, Any]] = None,
        body: Any = None,
        auth: bool = True,
        timeout_s: Optional[float] = None,
    ) -> Dict[str, Any]:
        """One Muster REST call; its ResponseData, or _Refused."""
        if not self._url:
            raise _Refused(kErrorNotConnected, "not connected: call Connect(session, host, port)")
        if auth and not self._token:
            raise _Refused(
                kErrorNotAuthenticated, "not authenticated: call Authenticate(session, user, pw)"
            )
        client = self._client(timeout_s)
        if not auth:
            client.token = None
        try:
            answer = client.request(method, path, body, query=query, auth=auth)
        except ClientError as exc:
            raise _refusal(exc) from None
        finally:
            self._keep_order(client)
        return _data(answer)

    def _keep_order(self, client: Any) -> None:
        """With several dispatchers, the next call starts at the one that answered last."""
        urls = list(getattr(client, "urls", []))
        if len(urls) > 1 and client.url in urls:
            first = urls.index(client.url)
            self._url = ",".join(urls[first:] + urls[:first])


def _refusal(exc: Any) -> _Refused:
    """A ClientError as a _Refused: Muster's envelope's Description when one came."""
    status = int(getattr(exc, "status", 0) or 0)
    if status == 0:
        code = kErrorTimeout if getattr(exc, "timed_out", False) else kErrorConnectionFailed
        return _Refused(code, str(exc))
    problem = getattr(exc, "problem", None) or {}
    answer = problem.get("ResponseStatus") if isinstance(problem, dict) else None
    if isinstance(answer, dict) and answer.get("Description"):
        return _Refused(status, str(answer["Description"]))
    return _Refused(status, str(exc))


def _data(answer: Any) -> Dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("ResponseStatus"), dict):
        raise _Refused(kErrorProtocol, "the answer is not Muster's REST envelope")
    data = answer.get("ResponseData")
    return data if isinstance(data, dict) else {}


def InitializeLibrary(path: str = "") -> MError:
    """Prepare the library (Muster's takes its install folder; Corral needs none)."""
    global _library_initialized
    if not isinstance(path, str):
        return MError(kErrorInvalidArgument, "InitializeLibrary: the path must be a string")
    _library_initialized = True
    return _ok()


def InitializeSession() -> MSession:
    """A new session, not yet connected."""
    return MSession()


def Connect(session: MSession, host: str, port: int = DEFAULT_PORT) -> MError:
    """Connect to the dispatcher's Muster REST API at `host`:`port` (9781, Corral's compat
    port, or 9890). `host` may be a URL (`https://farm`) to choose https, or several
    dispatchers of one farm separated by commas (`farm1,farm2`, each at `port`): a call
    that cannot reach one tries the next, and a standby's redirect leads to the leader.
    The dispatcher must answer as Muster's REST API within the session's timeout (10 s
    at most)."""
    if not isinstance(session, MSession):
        return MError(kErrorInvalidArgument, "Connect: the first argument must be a session")
    try:
        if isinstance(host, str) and "," in host:
            parts = [part for part in host.split(",") if part.strip()]
            url = ",".join(_base_url(part, port) for part in parts or [""])
        else:
            url = _base_url(host, port)
    except _Refused as exc:
        return MError(exc.code, exc.description)
    session._url, session._token, session._user = url, "", ""
    # GET /api/login is a wrong method: a Muster REST server answers 405 in its envelope.
    client = session._client(min(session._timeout_s, CONNECT_TIMEOUT_S))
    client.token = None
    try:
        client.request("GET", "/api/login", auth=False)
        answered: Any = None
    except ClientError as exc:
        answered = exc
    error = None  # type: Optional[MError]
    if answered is None:
        error = MError(kErrorProtocol, "%s answers, but not as Muster's REST API" % url)
    elif int(getattr(answered, "status", 0) or 0) == 0:
        refusal = _refusal(answered)
        error = MError(refusal.code, refusal.description)
    elif not isinstance((getattr(answered, "problem", None) or {}).get("ResponseStatus"), dict):
        error = MError(kErrorProtocol, "%s answers, but not as Muster's REST API" % url)
    if error is not None:
        session._url = ""
        return error
    return _ok()


def _base_url(host: Any, port: Any) -> str:
    if not isinstance(host, str) or not host.strip():
        raise _Refused(kErrorInvalidArgument, "Connect: the host must be a non-empty string")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise _Refused(kErrorInvalidArgument, "Connect: the port must be 1-65535, not %r" % (port,))
    text = host.strip()
    scheme = "http"
    if "://" in text:
        parsed = urllib.parse.urlsplit(text)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise _Refused(kErrorInvalidArgument, "Connect: %r is not an http(s) host" % host)
        scheme, text = parsed.scheme, parsed.hostname
    if any(char in text for char in "/?#@ \t\r\n"):
        raise _Refused(kErrorInvalidArgument, "Connect: %r is not a host name" % host)
    if ":" in text and not text.startswith("["):
        text = "[%s]" % text  # an IPv6 address
    return "%s://%s:%d" % (scheme, text, port)


def Authenticate(session: MSession, username: str, password: str) -> MError:
    """Log in with a user's name and password (the dispatcher's accounts); later calls
    carry the token it answers. A wrong name or password is error 401."""
    if not isinstance(session, MSession):
        return MError(kErrorInvalidArgument, "Authenticate: the first argument must be a session")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        return MError(kErrorInvalidArgument, "Authenticate: the user and password are strings")
    try:
        data = session._call(
            "POST", "/api/login", {"username": username, "password": password}, auth=False
        )
    except _Refused as exc:
        return MError(exc.code, exc.description)
    token = data.get("authToken")
    if not isinstance(token, str) or not token:
        return MError(kErrorProtocol, "the login answer holds no authToken")
    session._token, session._user = token, str(data.get("username") or username)
    return _ok()


def Disconnect(session: MSession) -> MError:
    """Forget the session's address and token (the token stays valid on the dispatcher
    until it expires or is revoked)."""
    if not isinstance(session, MSession):
        return MError(kErrorInvalidArgument, "Disconnect: the first argument must be a session")
    if not session._url:
        return MError(kErrorNotConnected, "not connected")
    session._url, session._token, session._user = "", "", ""
    return _ok()


# -- jobs --------------------------------------------------------------------------------
class MJob:
    """A job to submit (built with the setters) or one a query answered (the getters)."""

    kJobDependSuccess = 0
    kJobDependFailure = 1
    kJobDependAlways = 2
    kJobTypeJob = 0
    kJobTypeFolder = 1
    kSkipNone = 0
    kSkipWarnings = 1
    kSkipErrors = 2
    kSkipAll = 3
    kDependLinkJob = 0
    kDependLinkFrame = 1

    def __init__(self) -> None:
        self._fields = {
            "jobId": -1,
            "jobName": "",
            "templateId": "",
            "parentId": -1,
            "jobType": 0,
            "priority": None,
            "includedPools": "",
            "excludedPools": "",
            "packetSize": 1,
            "packetType": 0,
            "maximumInstances": 0,
            "project": "",
            "department": "",
            "dependIds": "",
            "dependMode": 0,
            "dependLinkMode": 0,
            "logsErrorCheck": None,
        }  # type: Dict[str, Any]
        self._attributes = {}  # type: Dict[str, Tuple[Any, bool]]
        self._answer = {}  # type: Dict[str, Any]

    def __repr__(self) -> str:
        return "MJob(id=%d, name=%r)" % (self.getJobId(), self.getName())

    # Setters check types (a TypeError at once, as a compiled binding raises); values are
    # checked by ActionSendJob, which sends nothing when one is wrong.
    def _set(self, key: str, value: Any, kinds: Tuple[type, ...], what: str) -> None:
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise TypeError("MJob: %s must be %s, not %r" % (key, what, value))
        self._fields[key] = value

    def setName(self, name: str) -> None:
        self._set("jobName", name, (str,), "a string")

    def getName(self) -> str:
        return str(self._fields["jobName"])

    def setTemplateID(self, template_id: Union[int, str]) -> None:
        """The template's integer id (Muster), or its key (Corral: "python")."""
        self._set("templateId", template_id, (int, str), "an integer id or a key")

    def getTemplateID(self) -> int:
        value = self._fields["templateId"]
        if isinstance(value, int):
            return value
        return int(value) if str(value).lstrip("-").isdigit() else -1

    def getTemplateKey(self) -> str:
        """The template's key (a queried job)."""
        return str(self._answer.get("templateKey", ""))

    def setParentId(self, parent_id: int) -> None:
        """The folder the job goes in; -1 (or 0) for the top."""
        self._set("parentId", parent_id, (int,), "an integer")

    def getParentId(self) -> int:
        return int(self._fields["parentId"])

    def setJobType(self, job_type: int) -> None:
        """kJobTypeJob or kJobTypeFolder."""
        self._set("jobType", job_type, (int,), "kJobTypeJob or kJobTypeFolder")

    def getJobType(self) -> int:
        return int(self._fields["jobType"])

    def setPriority(self, priority: int) -> None:
        """0-65535; unset: the template's default priority."""
        self._set("priority", priority, (int,), "an integer")

    def getPriority(self) -> int:
        value = self._fields["priority"]
        return -1 if value is None else int(value)

    def setIncludedPools(self, pools: str) -> None:
        """The pools the job may run in, as a comma list: "common,gpu"."""
        self._set("includedPools", pools, (str,), "a comma list string")

    def getIncludedPools(self) -> str:
        return str(self._fields["includedPools"])

    def setExcludedPools(self, pools: str) -> None:
        self._set("excludedPools", pools, (str,), "a comma list string")

    def getExcludedPools(self) -> str:
        return str(self._fields["excludedPools"])

    def setPacketSize(self, size: int) -> None:
        """Frames per chunk (Muster's packet), 1 or more."""
        self._set("packetSize", size, (int,), "an integer")

    def getPacketSize(self) -> int:
        return int(self._fields["packetSize"])

    def setPacketType(self, packet_type: int) -> None:
        """The template logic: kTemplateMultiframe (MTemplateAPI's constants)."""
        self._set("packetType", packet_type, (int,), "an integer")

    def getPacketType(self) -> int:
        return int(self._fields["packetType"])

    def setMaximumNodes(self, count: int) -> None:
        """How many nodes may work on the job at once; 0 for no limit."""
        self._set("maximumInstances", count, (int,), "an integer")

    def getMaximumNodes(self) -> int:
        return int(self._fields["maximumInstances"])

    def setProject(self, project: str) -> None:
        self._set("project", project, (str,), "a string")

    def getProject(self) -> str:
        return str(self._fields["project"])

    def setDepartment(self, department: str) -> None:
        self._set("department", department, (str,), "a string")

    def getDepartment(self) -> str:
        return str(self._fields["department"])

    def setDepends(self, job_ids: Union[str, int]) -> None:
        """The jobs this one waits for: "12" or "12,13" (an int for one job)."""
        self._set("dependIds", str(job_ids) if isinstance(job_ids, int) and not
                  isinstance(job_ids, bool) else job_ids, (str,), "a comma list of job ids")  # fmt: skip

    def getDepends(self) -> str:
        return str(self._fields["dependIds"])

    def setDependMode(self, mode: int) -> None:
        """When the dependencies count as met: kJobDependSuccess, ...Failure, ...Always."""
        self._set("dependMode", mode, (int,), "a kJobDepend* constant")

    def getDependMode(self) -> int:
        return int(self._fields["dependMode"])

    def setDependLinkMode(self, mode: int) -> None:
        """kDependLinkJob (wait for the whole job) or kDependLinkFrame (frame by frame)."""
        self._set("dependLinkMode", mode, (int,), "kDependLinkJob or kDependLinkFrame")

    def getDependLinkMode(self) -> int:
        return int(self._fields["dependLinkMode"])

    def setLogsErrorCheckType(self, check: int) -> None:
        """Which log findings fail a chunk: kSkipNone, kSkipWarnings, kSkipErrors, kSkipAll."""
        self._set("logsErrorCheck", check, (int,), "a kSkip* constant")

    def getLogsErrorCheckType(self) -> int:
        value = self._fields["logsErrorCheck"]
        return self.kSkipNone if value is None else int(value)

    # Attributes: the template's fields (job_file, start_frame, output_folder, ...).
    def _set_attribute(self, key: Any, value: Any, subst: bool) -> None:
        if not isinstance(key, str):
            raise TypeError("MJob: an attribute's name must be a string, not %r" % (key,))
        self._attributes[key] = (value, bool(subst))

    def attributeSetString(self, key: str, value: str, subst: bool = False) -> None:
        """A text attribute; `subst` (Corral) marks it for path translation."""
        if not isinstance(value, str):
            raise TypeError("MJob: attribute %r must be a string, not %r" % (key, value))
        self._set_attribute(key, value, subst)

    def attributeSetFloat(self, key: str, value: float, subst: bool = False) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("MJob: attribute %r must be a number, not %r" % (key, value))
        self._set_attribute(key, float(value), subst)

    def attributeSetInt(self, key: str, value: int, subst: bool = False) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("MJob: attribute %r must be an integer, not %r" % (key, value))
        self._set_attribute(key, value, subst)

    def attributeGetString(self, key: str) -> str:
        value = self._attributes.get(key, (None, False))[0]
        return "" if value is None else str(value)

    def attributeGetFloat(self, key: str) -> float:
        try:
            return float(self._attributes.get(key, (0.0, False))[0])
        except (TypeError, ValueError):
            return 0.0

    def attributeGetInt(self, key: str) -> int:
        try:
            return int(float(self._attributes.get(key, (0, False))[0]))
        except (TypeError, ValueError, OverflowError):
            return 0

    def attributeRemove(self, key: str) -> None:
        self._attributes.pop(key, None)

    def attributeNames(self) -> List[str]:
        return sorted(self._attributes)

    # What the dispatcher says of a sent or queried job.
    def getJobId(self) -> int:
        """The job's id once ActionSendJob succeeded (or a query answered it); -1 before."""
        return int(self._fields["jobId"])

    def getOwner(self) -> str:
        return str(self._answer.get("owner", ""))

    def getStatus(self) -> str:
        """Corral's state: queued, running, done, failed or paused ("" before sending)."""
        return str(self._answer.get("status", ""))

    def getProgress(self) -> float:
        """Percent done, 0-100."""
        return float(self._answer.get("progress", 0.0) or 0.0)

    def isPaused(self) -> bool:
        return bool(self._answer.get("paused", False))

    def getChunksCount(self) -> Dict[str, int]:
        """{"total", "queued", "running", "done", "failed", "skipped"}."""
        chunks = self._answer.get("chunks")
        return dict(chunks) if isinstance(chunks, dict) else {}

    def getPostJobActionId(self) -> int:
        """The post job action's job id after sending, -1 when it has none."""
        return int(self._answer.get("postJobActionId", -1))

    def getSubmissionTime(self) -> str:
        return str(self._answer.get("submissionTime") or "")

    def getStartTime(self) -> str:
        return str(self._answer.get("startTime") or "")

    def getEndTime(self) -> str:
        return str(self._answer.get("endTime") or "")

    @classmethod
    def fromDict(cls, data: Dict[str, Any]) -> "MJob":
        """A job from Muster REST's queue listing (its jobs' keys)."""
        job = cls()
        job._answer = dict(data)
        job._fields.update(
            jobId=int(data.get("jobId", -1)),
            jobName=str(data.get("jobName", "")),
            templateId=data.get("templateId", -1),
            parentId=int(data.get("parentId", -1)),
            jobType=cls.kJobTypeFolder if data.get("jobType") == "folder" else cls.kJobTypeJob,
            priority=data.get("priority"),
            includedPools=",".join(data.get("includedPools") or []),
            excludedPools=",".join(data.get("excludedPools") or []),
            packetSize=int(data.get("packetSize", 1) or 1),
            maximumInstances=int(data.get("maximumInstances", 0) or 0),
            project=str(data.get("project", "")),
            department=str(data.get("department", "")),
            dependIds=",".join(str(item) for item in data.get("dependIds") or []),
            dependMode=int(data.get("dependMode", 0) or 0),
            dependLinkMode=int(data.get("dependLinkMode", 0) or 0),
        )
        for name, item in (data.get("attributes") or {}).items():
            if isinstance(item, dict):
                job._attributes[str(name)] = (item.get("value"), bool(item.get("subst")))
        if "logs_error_check" in job._attributes:
            job._fields["logsErrorCheck"] = job.attributeGetInt("logs_error_check")
        muster = job._attributes.pop("muster", None)
        if muster is not None and isinstance(muster[0], dict):
            job._fields["packetType"] = int(muster[0].get("packetType", 0) or 0)
        frames = str(data.get("framesRange") or "")
        if frames and "start_frame" not in job._attributes:
            start, _, end = frames.partition("-")
            job._attributes["start_frame"] = (_float(start), False)
            job._attributes["end_frame"] = (_float(end or start), False)
            job._attributes.setdefault("by_frame", (_float(data.get("byFrame", 1)), False))
        return job

    def toDict(self) -> Dict[str, Any]:
        """The job as Muster REST's submit takes it (RequestData.job); ValueError when a
        value is wrong (ActionSendJob answers it as an MError instead)."""
        try:
            return _wire_job(self)
        except _Refused as exc:
            raise ValueError(exc.description) from None


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _invalid(field: str, message: str) -> _Refused:
    return _Refused(kErrorInvalidArgument, "MJob %s: %s (nothing was sent)" % (field, message))


def _text_field(job: MJob, key: str, label: str, required: bool = False) -> str:
    value = str(job._fields[key])
    if required and not value.strip():
        raise _invalid(label, "is required")
    if len(value) > MAX_NAME_CHARS:
        raise _invalid(label, "at most %d characters" % MAX_NAME_CHARS)
    if any(char in value for char in "\r\n\x00"):
        raise _invalid(label, "must be one line")
    return value


def _names(job: MJob, key: str, label: str) -> List[str]:
    names = [part.strip() for part in str(job._fields[key]).split(",") if part.strip()]
    for name in names:
        if len(name) > MAX_NAME_CHARS:
            raise _invalid(label, "a pool name of at most %d characters" % MAX_NAME_CHARS)
    return names


def _wire_job(job: MJob) -> Dict[str, Any]:
    """The RequestData.job of Muster REST's submit, or _Refused naming the wrong value."""
    fields = job._fields
    job_type = fields["jobType"]
    if job_type not in (MJob.kJobTypeJob, MJob.kJobTypeFolder):
        raise _invalid("setJobType", "kJobTypeJob (0) or kJobTypeFolder (1), not %r" % job_type)
    wire = {
        "jobName": _text_field(job, "jobName", "setName", required=True),
        "jobType": job_type,
        "jobId": -1,
        "parentId": fields["parentId"],
        "project": _text_field(job, "project", "setProject"),
        "department": _text_field(job, "department", "setDepartment"),
    }  # type: Dict[str, Any]
    if job_type == MJob.kJobTypeFolder:
        return wire
    template = fields["templateId"]
    if isinstance(template, int) and template < 0:
        raise _invalid("setTemplateID", "a template id is 0 or more, not %d" % template)
    if isinstance(template, str) and not template.strip():
        raise _invalid("setTemplateID", "the job's template is required")
    priority = fields["priority"]
    if priority is not None and not 0 <= priority <= MAX_PRIORITY:
        raise _invalid("setPriority", "0-%d, not %d" % (MAX_PRIORITY, priority))
    if fields["packetSize"] < 1:
        raise _invalid("setPacketSize", "1 or more frames, not %d" % fields["packetSize"])
    if fields["maximumInstances"] < 0:
        raise _invalid("setMaximumNodes", "0 (no limit) or more, not %d"
                       % fields["maximumInstances"])  # fmt: skip
    if fields["dependMode"] not in (0, 1, 2):
        raise _invalid("setDependMode", "a kJobDepend* constant (0-2), not %r"
                       % fields["dependMode"])  # fmt: skip
    if fields["dependLinkMode"] not in (0, 1):
        raise _invalid("setDependLinkMode", "0 or 1, not %r" % fields["dependLinkMode"])
    check = fields["logsErrorCheck"]
    if check is not None and check not in (0, 1, 2, 3):
        raise _invalid("setLogsErrorCheckType", "a kSkip* constant (0-3), not %r" % check)
    depends = [part.strip() for part in str(fields["dependIds"]).split(",") if part.strip()]
    for part in depends:
        if not (part.isdigit() and part.isascii() and len(part) <= 18 and int(part) > 0):
            raise _invalid("setDepends", "%r is not a job id" % part[:32])
    if len(depends) > MAX_DEPENDS:
        raise _invalid("setDepends", "at most %d jobs" % MAX_DEPENDS)
    wire.update(
        templateId=template,
        priority=priority,
        includedPools=_names(job, "includedPools", "setIncludedPools"),
        excludedPools=_names(job, "excludedPools", "setExcludedPools"),
        packetSize=fields["packetSize"],
        packetType=fields["packetType"],
        maximumInstances=fields["maximumInstances"],
        dependIds=depends,
        dependMode=fields["dependMode"],
        dependLinkMode=fields["dependLinkMode"],
        attributes=_wire_attributes(job),
    )
    if priority is None:
        del wire["priority"]
    return wire


def _wire_attributes(job: MJob) -> Dict[str, Any]:
    attributes = dict(job._attributes)
    if job._fields["logsErrorCheck"] is not None:
        attributes["logs_error_check"] = (job._fields["logsErrorCheck"], False)
    if len(attributes) > MAX_ATTRIBUTES:
        raise _invalid("attributes", "at most %d, not %d" % (MAX_ATTRIBUTES, len(attributes)))
    wire = {}
    for name, (value, subst) in sorted(attributes.items()):
        label = "attribute %r" % name[:40]
        if not name or len(name) > MAX_NAME_CHARS:
            raise _invalid(label, "a name of 1-%d characters" % MAX_NAME_CHARS)
        if name == "muster":
            raise _invalid(label, "the name is reserved for Muster's own fields")
        if isinstance(value, float) and value != value or value in (float("inf"), -float("inf")):
            raise _invalid(label, "a finite number is required")
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_VALUE_CHARS:
            raise _invalid(label, "at most %d characters, not %d"
                           % (MAX_ATTRIBUTE_VALUE_CHARS, len(value)))  # fmt: skip
        wire[name] = {"value": value, "state": True, "subst": subst}
    return wire


def ActionSendJob(session: MSession, job: MJob) -> MError:
    """Submit `job`; on success `job.getJobId()` is its new id. A wrong value in the job
    is error kErrorInvalidArgument and nothing is sent; the dispatcher's refusals carry
    their HTTP status (400 naming the field, 404 an unknown dependency, ...)."""
    if not isinstance(session, MSession) or not isinstance(job, MJob):
        return MError(kErrorInvalidArgument, "ActionSendJob(session, job): a session and an MJob")
    try:
        body = {"RequestData": {"platform": GetPlatform(), "job": _wire_job(job)}}
        data = session._call("POST", "/api/queue/actions", {"name": "submit"}, body)
        job_id = data.get("jobId")
        if not isinstance(job_id, int):
            raise _Refused(kErrorProtocol, "the submit answer holds no jobId")
    except _Refused as exc:
        return MError(exc.code, exc.description)
    job._fields["jobId"] = job_id
    job._answer = {"status": "queued", "owner": session._user}
    if "postJobActionId" in data:
        job._answer["postJobActionId"] = data["postJobActionId"]
    return _ok()


def ActionGetJobs(
    session: MSession,
    owner: Optional[str] = None,
    status: Optional[str] = None,
    parentId: Optional[int] = None,
    templateID: Optional[Union[int, str]] = None,
) -> Tuple[MError, List[MJob]]:
    """The queue's jobs (every page), filtered by owner, status (queued, running, done,
    failed, paused), folder and template."""
    query = {"name": "list", "limit": PAGE_SIZE}  # type: Dict[str, Any]
    for key, value in (("owner", owner), ("state", status), ("parent", parentId),
                       ("template", templateID)):  # fmt: skip
        if value is not None:
            query[key] = value
    try:
        rows = _pages(session, "GET", "/api/queue/actions", query, "jobs")
    except _Refused as exc:
        return MError(exc.code, exc.description), []
    return _ok(), [MJob.fromDict(row) for row in rows]


def ActionGetJob(session: MSession, jobId: int) -> Tuple[MError, Optional[MJob]]:
    """One job by id (error 404 when there is none)."""
    try:
        _job_id(jobId)
        data = session._call("GET", "/api/queue/actions", {"name": "list", "jobId": jobId})
    except _Refused as exc:
        return MError(exc.code, exc.description), None
    jobs = data.get("jobs") or []
    if not jobs:
        return MError(404, "no job %d" % jobId), None
    return _ok(), MJob.fromDict(jobs[0])


def _job_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Refused(kErrorInvalidArgument, "a job id is a positive integer, not %r" % (value,))
    return value


def _pages(
    session: MSession, method: str, path: str, query: Dict[str, Any], key: str
) -> List[Dict[str, Any]]:
    rows = []  # type: List[Dict[str, Any]]
    while True:
        data = session._call(method, path, query)
        rows.extend(row for row in data.get(key) or [] if isinstance(row, dict))
        after = data.get("next")
        if not after:
            return rows
        query = dict(query, after=after)


def _act(session: MSession, name: str, jobId: int) -> MError:
    try:
        _job_id(jobId)
        session._call("POST", "/api/queue/actions", {"name": name, "jobId": jobId})
    except _Refused as exc:
        return MError(exc.code, exc.description)
    return _ok()


def ActionPauseJob(session: MSession, jobId: int) -> MError:
    """Pause a job: no new chunk starts; running ones finish."""
    return _act(session, "pause", jobId)


def ActionResumeJob(session: MSession, jobId: int) -> MError:
    return _act(session, "resume", jobId)


def ActionReinitJob(session: MSession, jobId: int) -> MError:
    """Queue every chunk of a job again."""
    return _act(session, "reinit", jobId)


def ActionDeleteJob(session: MSession, jobId: int) -> MError:
    return _act(session, "delete", jobId)


# -- chunks, logs, nodes, templates ------------------------------------------------------
class MChunk:
    """A chunk of a job (its frames, state, node and last attempt)."""

    kChunkQueued = 0
    kChunkRunning = 1
    kChunkDone = 2
    kChunkFailed = 3
    kChunkSkipped = 4
    _STATUS_NAMES = ("queued", "running", "done", "failed", "skipped")

    def __init__(self, data: Optional[Dict[str, Any]] = None) -> None:
        self._data = dict(data or {})

    def __repr__(self) -> str:
        return "MChunk(job=%d, chunk=%d, %s)" % (
            self.getJobId(), self.getChunkId(), self.getStatusName()
        )  # fmt: skip

    def getJobId(self) -> int:
        return int(self._data.get("jobId", -1))

    def getChunkId(self) -> int:
        """Its number in the job, from 0."""
        return int(self._data.get("chunkId", -1))

    def getStatus(self) -> int:
        """One of the kChunk* constants."""
        name = self.getStatusName()
        return self._STATUS_NAMES.index(name) if name in self._STATUS_NAMES else 0

    def getStatusName(self) -> str:
        return str(self._data.get("status", "queued"))

    def getStartFrame(self) -> float:
        return _float(self._data.get("startFrame"))

    def getEndFrame(self) -> float:
        return _float(self._data.get("endFrame"))

    def getNodeName(self) -> str:
        """The node of its latest attempt ("" when it never ran)."""
        return str(self._data.get("node") or "")

    def getNodeId(self) -> int:
        node = self._data.get("nodeId")
        return -1 if node is None else int(node)

    def getAttempts(self) -> int:
        return int(self._data.get("attempts", 0) or 0)

    def getFailures(self) -> int:
        return int(self._data.get("failures", 0) or 0)

    def getProgress(self) -> float:
        return _float(self._data.get("progress"))

    def getExitCode(self) -> Optional[int]:
        code = self._data.get("exitCode")
        return None if code is None else int(code)

    def getError(self) -> str:
        return str(self._data.get("error") or "")

    def getWarnings(self) -> int:
        return int(self._data.get("warnings", 0) or 0)

    def getErrors(self) -> int:
        return int(self._data.get("errors", 0) or 0)

    def getStartTime(self) -> str:
        return str(self._data.get("startTime") or "")

    def getEndTime(self) -> str:
        return str(self._data.get("endTime") or "")

    def toDict(self) -> Dict[str, Any]:
        return dict(self._data)


def ActionGetChunks(session: MSession, jobId: int) -> Tuple[MError, List[MChunk]]:
    """A job's chunks, in order."""
    try:
        _job_id(jobId)
        query = {"name": "chunks", "jobId": jobId, "limit": PAGE_SIZE}
        rows = _pages(session, "GET", "/api/queue/actions", query, "chunks")
    except _Refused as exc:
        return MError(exc.code, exc.description), []
    return _ok(), [MChunk(row) for row in rows]


def ActionGetChunkLog(
    session: MSession, jobId: int, chunkId: int, attempt: Optional[int] = None
) -> Tuple[MError, str]:
    """A chunk's log: its latest attempt's (or `attempt`'s), at most its last 4 MiB.
    Error 404 when the chunk has not run."""
    try:
        _job_id(jobId)
        for name, value in (("chunkId", chunkId), ("attempt", attempt)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):  # fmt: skip
                raise _Refused(kErrorInvalidArgument, "%s: 0 or more, not %r" % (name, value))
        query = {"name": "log", "jobId": jobId, "chunkId": chunkId}  # type: Dict[str, Any]
        if attempt is not None:
            query["attempt"] = attempt
        data = session._call("GET", "/api/queue/actions", query)
    except _Refused as exc:
        return MError(exc.code, exc.description), ""
    return _ok(), str(data.get("log") or "")


class MNode:
    """A render node (one render-client instance)."""

    kNodeStatusOffline = 0
    kNodeStatusIdle = 1
    kNodeStatusBusy = 2
    kNodeStatusPaused = 3
    _STATUS_CODES = {"offline": 0, "idle": 1, "busy": 2, "paused": 3}

    def __init__(self, data: Optional[Dict[str, Any]] = None) -> None:
        self._data = dict(data or {})

    def __repr__(self) -> str:
        return "MNode(%r, %s)" % (self.getName(), self.getStatusName())

    def getID(self) -> int:
        return int(self._data.get("nodeId", -1))

    def getName(self) -> str:
        return str(self._data.get("name", ""))

    def getHostName(self) -> str:
        return str(self._data.get("hostName", ""))

    def getInstance(self) -> int:
        return int(self._data.get("instance", 0) or 0)

    def getIPAddress(self) -> str:
        return str(self._data.get("address") or "")

    def getPlatform(self) -> str:
        return str(self._data.get("platform") or "")

    def getPools(self) -> str:
        return ",".join(self._data.get("pools") or [])

    def getStatus(self) -> int:
        """One of the kNodeStatus* constants."""
        return self._STATUS_CODES.get(self.getStatusName(), self.kNodeStatusOffline)

    def getStatusName(self) -> str:
        return str(self._data.get("status", "offline"))

    def isOnline(self) -> bool:
        return bool(self._data.get("online"))

    def isPaused(self) -> bool:
        return bool(self._data.get("paused"))

    def getRunningChunks(self) -> List[Tuple[int, int]]:
        """(job id, chunk id) of what it renders now."""
        return [(int(item["jobId"]), int(item["chunkId"]))
                for item in self._data.get("running") or []]  # fmt: skip

    def toDict(self) -> Dict[str, Any]:
        return dict(self._data)


def ActionGetNodes(session: MSession) -> Tuple[MError, List[MNode]]:
    """Every render node the dispatcher knows, online or not."""
    try:
        rows = _pages(session, "GET", "/api/nodes/list", {"limit": PAGE_SIZE}, "nodes")
    except _Refused as exc:
        return MError(exc.code, exc.description), []
    return _ok(), [MNode(row) for row in rows]


class MTemplateInfo:
    """An installed template: its integer id, name and key."""

    def __init__(self, data: Optional[Dict[str, Any]] = None) -> None:
        self._data = dict(data or {})

    def __repr__(self) -> str:
        return "MTemplateInfo(%d, %r)" % (self.getID(), self.getName())

    def getID(self) -> int:
        return int(self._data.get("id", -1))

    def getName(self) -> str:
        return str(self._data.get("name", ""))

    def getKey(self) -> str:
        return str(self._data.get("key", ""))

    def getDescription(self) -> str:
        return str(self._data.get("description") or "")


def ActionGetTemplates(session: MSession) -> Tuple[MError, List[MTemplateInfo]]:
    """The templates installed on the dispatcher."""
    try:
        data = session._call("GET", "/api/templates/list", {"select": "name,id,key,description"})
    except _Refused as exc:
        return MError(exc.code, exc.description), []
    rows = [row for row in data.get("templates") or [] if isinstance(row, dict)]
    return _ok(), [MTemplateInfo(row) for row in rows]
