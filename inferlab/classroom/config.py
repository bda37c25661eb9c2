"""The course's nbgrader configuration, loaded the way the `nbgrader` command loads it."""
from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


def load_course_config(course: Path) -> Config:
    """Every `nbgrader_config.py` on Jupyter's config path, then the course's own (which wins)."""
    from jupyter_core.paths import jupyter_config_path

    config = Config()
    folders = list(reversed(jupyter_config_path())) + [str(course)]
    cwd = os.getcwd()
    try:
        os.chdir(course)  # a course config may use relative paths, as under `nbgrader` run in the course
        for folder in folders:
            if os.path.isfile(os.path.join(folder, "nbgrader_config.py")):
                config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    finally:
        os.chdir(cwd)
    config.CourseDirectory.root = str(course)
    return config


def course_directory(config: Config):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=config)


def find_course(path: str | None) -> Path:
    """`--course`, else the current folder when it holds an nbgrader_config.py, else the repository."""
    if path:
        course = Path(path).resolve()
    elif Path("nbgrader_config.py").is_file():
        course = Path.cwd().resolve()
    else:
        from inferlab import course_root

        course = course_root()
    if not (course / "nbgrader_config.py").is_file():
        raise ValueError(f"--course: {course} holds no nbgrader_config.py")
    return course
