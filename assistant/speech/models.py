"""Speech models the operator brings, kept in the data folder and listed in one registry.

Nothing is downloaded: an operator hands over a Vosk model as a folder or a
.zip (e.g. vosk-model-small-cn-0.22.zip). It is checked *before* it replaces
anything, copied under ``<data_dir>/models/vosk/<name>/`` and recorded in
``<data_dir>/models/registry.json``, so the assistant finds it again after a
restart without anyone editing paths.

Layout (Vosk's "v2" model layout, the one every current model uses)::

    am/final.mdl                         acoustic model               required
    conf/mfcc.conf, conf/model.conf      features, decoder settings   required
    graph/HCLG.fst                       static graph                 one of these two
    graph/HCLr.fst + graph/Gr.fst        dynamic graph (small models;
      + graph/disambig_tid.int           needed for grammar mode)
    graph/words.txt                      word list, unless the graph FST embeds it
                                         (small models embed it in Gr.fst)
    graph/phones/word_boundary.int       word timings                 optional
    ivector/final.ie + its five files    speaker adaptation           optional, all or none
    rescore/G.carpa + rescore/G.fst      rescoring                    optional, both or none
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import tempfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

# A zip bigger than this is not a speech model we would run on a kiosk; the cap
# also stops a "zip bomb" from filling the disk.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_ZIP_MEMBERS = 10_000

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
_FST_MAGIC = 2125659606  # OpenFst's header magic number
_FST_HAS_OUTPUT_SYMBOLS = 0x2
_IVECTOR_FILES = ("final.dubm", "final.ie", "final.mat", "global_cmvn.stats", "online_cmvn.conf", "splice.conf")
# Files a zip tool adds that are not part of the model.
_ZIP_JUNK = {"__MACOSX", ".DS_Store"}


class ModelError(ValueError):
    """A model that cannot be used; ``str(error)`` is Chinese + English for the operator."""


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    language: str  # "zh" for Mandarin
    path: Path  # absolute; stored relative to the data folder so the folder can move
    added_at: datetime  # UTC
    size_bytes: int
    engine: str = "vosk"


def validate_vosk_model(path: Path) -> list[str]:
    """Everything missing for Vosk to load ``path``; empty when the model looks usable.

    Checks exactly what Vosk's loader opens, so an operator hears "missing
    graph/Gr.fst" instead of a crash in the middle of a call.
    """
    path = Path(path)
    if not path.is_dir():
        return [f"找不到模型文件夹 / model folder not found: {path}"]
    problems: list[str] = []

    def need(relative: str, what: str) -> None:
        file = path / relative
        if not file.is_file() or file.stat().st_size == 0:
            problems.append(f"缺少{what} {relative} / missing {relative}")

    need("am/final.mdl", "声学模型")
    if not (path / "am/final.mdl").exists() and (path / "final.mdl").exists():
        problems.append("这是旧版 Vosk 模型结构，请换用新版模型 / old Vosk model layout is not supported")
    need("conf/mfcc.conf", "特征配置")
    need("conf/model.conf", "解码配置")

    graph = path / "graph"
    if (graph / "HCLG.fst").is_file():
        word_fst = graph / "HCLG.fst"
    else:
        for name in ("HCLr.fst", "Gr.fst", "disambig_tid.int"):
            need(f"graph/{name}", "解码图")
        word_fst = graph / "Gr.fst"
    if word_fst.is_file():
        flags = _fst_flags(word_fst)
        if flags is None:
            problems.append(f"解码图文件已损坏 / not an FST file: graph/{word_fst.name}")
        elif not flags & _FST_HAS_OUTPUT_SYMBOLS:
            need("graph/words.txt", "词表")

    if (path / "ivector/final.ie").exists():
        for name in _IVECTOR_FILES:
            need(f"ivector/{name}", "说话人自适应文件")
    if (path / "rescore/G.carpa").exists():
        need("rescore/G.fst", "重打分语言模型")
    return problems


def has_dynamic_graph(path: Path) -> bool:
    """Grammar mode needs HCLr.fst + Gr.fst; Vosk prefers HCLG.fst when both exist."""
    graph = Path(path) / "graph"
    return not (graph / "HCLG.fst").exists() and (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()


def _fst_flags(path: Path) -> int | None:
    """The header flags of an OpenFst file, or None when it is not one.

    Reading the header (a few dozen bytes) tells whether the word list is
    embedded without loading a 200 MB graph.
    """
    try:
        with path.open("rb") as file:
            (magic,) = struct.unpack("<i", file.read(4))
            if magic != _FST_MAGIC:
                return None
            for _ in range(2):  # FST type, arc type: length-prefixed strings
                (length,) = struct.unpack("<i", file.read(4))
                if not 0 < length < 256:
                    return None
                file.seek(length, os.SEEK_CUR)
            _version, flags = struct.unpack("<ii", file.read(8))
            return flags
    except (OSError, struct.error):
        return None


def add_vosk_model(source: Path, data_dir: Path, language: str = "zh", name: str | None = None) -> RegisteredModel:
    """Install a Vosk model from a folder or a .zip and record it in the registry.

    The new copy is assembled and checked beside the old one and only then
    swapped in, so a bad upload never breaks a working installation; adding
    the same name again replaces the model.
    """
    source = Path(source)
    if not source.exists():
        raise ModelError(f"找不到模型：{source}（model path not found）")
    if not _LANGUAGE.fullmatch(language):
        raise ModelError(f"语言代码不对：{language!r}，普通话请用 zh（bad language code）")
    if name is not None and not _NAME.fullmatch(name):
        raise ModelError(f"模型名称只能用字母、数字、点、横线和下划线：{name!r}（bad model name）")

    vosk_dir = Path(data_dir) / "models" / "vosk"
    vosk_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".adding-", dir=vosk_dir))
    try:
        if source.is_dir():
            _require_model(source, source)
            root = staging / "model"
            shutil.copytree(source, root)
            default_name = source.name
        elif source.suffix.lower() == ".zip" or zipfile.is_zipfile(source):
            _extract_zip(source, staging)
            root = _model_root(staging, source)
            default_name = root.name if root != staging else source.stem
        else:
            raise ModelError(f"既不是模型文件夹也不是 zip 压缩包：{source}（not a folder or a zip archive）")
        final_name = name or _as_name(default_name)
        target = vosk_dir / final_name
        _replace_folder(root, target, vosk_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    model = RegisteredModel(final_name, language, target.resolve(), datetime.now(timezone.utc).replace(microsecond=0),
                            _folder_size(target))
    others = [m for m in _read_registry(data_dir) if not (m.engine == "vosk" and m.name == final_name)]
    _write_registry(data_dir, [*others, model])
    return model


def registered_vosk_models(data_dir: Path) -> list[RegisteredModel]:
    return [model for model in _read_registry(data_dir) if model.engine == "vosk"]


def mandarin_vosk_model(data_dir: Path) -> RegisteredModel | None:
    """The Mandarin model to use: the most recently added one."""
    mandarin = [m for m in registered_vosk_models(data_dir) if m.language == "zh" or m.language.startswith("zh-")]
    return max(mandarin, key=lambda m: m.added_at, default=None)


def _require_model(folder: Path, source: Path) -> None:
    problems = validate_vosk_model(folder)
    if problems:
        raise ModelError(f"这不是可用的 Vosk 语音模型：{source}（not a usable Vosk model）\n" + "\n".join(problems))


def _extract_zip(archive_path: Path, destination: Path) -> None:
    """Extract a zip only after every member is known to stay inside ``destination`` (zip-slip)."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise ModelError(f"压缩包里文件太多（{len(members)} 个），已拒绝（zip has too many files）")
            if sum(member.file_size for member in members) > MAX_UNCOMPRESSED_BYTES:
                raise ModelError("压缩包解压后超过 2 GB，已拒绝（zip is too large when extracted）")
            for member in members:
                parts = PurePosixPath(member.filename.replace("\\", "/"))
                if parts.is_absolute() or ".." in parts.parts or ":" in member.filename:
                    raise ModelError(f"压缩包里有不安全的路径 {member.filename!r}，已拒绝（unsafe path in zip）")
            archive.extractall(destination)
    except (zipfile.BadZipFile, zlib.error) as error:
        raise ModelError(f"模型压缩包已损坏：{archive_path}（bad zip archive: {error}）") from None
    except (RuntimeError, NotImplementedError) as error:  # encrypted, or an unsupported compression method
        raise ModelError(f"无法解压模型压缩包：{archive_path}（cannot extract zip: {error}）") from None


def _model_root(extracted: Path, source: Path) -> Path:
    """The model folder in an extracted zip: the zip root, or its single top-level folder."""
    entries = [entry for entry in extracted.iterdir() if entry.name not in _ZIP_JUNK]
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else extracted
    _require_model(root, source)
    return root


def _as_name(text: str) -> str:
    """A folder name safe on every file system, derived from the operator's file name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:64]
    if not name:
        raise ModelError(f"请给模型起个名字（字母、数字）：{text!r}（please give the model a name）")
    return name


def _replace_folder(new: Path, target: Path, parent: Path) -> None:
    """Swap ``new`` in at ``target`` with renames on one file system, so no half-copied model is ever visible."""
    retired = parent / f".retired-{target.name}-{uuid.uuid4().hex}"
    if target.exists():
        target.rename(retired)
    new.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def _folder_size(folder: Path) -> int:
    return sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())


def _registry_file(data_dir: Path) -> Path:
    return Path(data_dir) / "models" / "registry.json"


def _read_registry(data_dir: Path) -> list[RegisteredModel]:
    file = _registry_file(data_dir)
    if not file.exists():
        return []
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))["models"]
        return [
            RegisteredModel(entry["name"], entry["language"], (Path(data_dir) / entry["path"]).resolve(),
                            datetime.fromisoformat(entry["added_at"]), int(entry["size_bytes"]), entry["engine"])
            for entry in entries
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise ModelError(f"模型登记文件已损坏：{file}（model registry is corrupt: {error}）") from None


def _write_registry(data_dir: Path, models: list[RegisteredModel]) -> None:
    """Write to a temporary file, then rename: a crash leaves the old registry, never half a file."""
    file = _registry_file(data_dir)
    base = Path(data_dir).resolve()
    entries = [
        {
            "name": model.name,
            "language": model.language,
            "engine": model.engine,
            "path": model.path.relative_to(base).as_posix(),
            "added_at": model.added_at.isoformat(),
            "size_bytes": model.size_bytes,
        }
        for model in sorted(models, key=lambda m: (m.engine, m.name))
    ]
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=file.parent, prefix=".registry-",
                                     suffix=".json", delete=False) as temporary:
        json.dump({"version": 1, "models": entries}, temporary, ensure_ascii=False, indent=2)
        temporary.flush()
        os.fsync(temporary.fileno())
    os.replace(temporary.name, file)
