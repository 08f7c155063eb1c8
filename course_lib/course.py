"""Where the course lives: the one place that knows the repository's address.

Lecture title cells (the "Open in Colab" badge) and set-up cells are derived from these values,
and a test keeps every notebook consistent with them.
"""

REPOSITORY = "introspecting-deep-networks/course"
BRANCH = "main"
GITHUB_URL = f"https://github.com/{REPOSITORY}"
PIP_SPEC = f"course_lib @ git+{GITHUB_URL}.git@{BRANCH}"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def colab_url(notebook_path: str) -> str:
    """The Colab address that opens ``notebook_path`` (relative to the repository root)."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{notebook_path}"


def colab_badge(notebook_path: str) -> str:
    """Markdown for the "Open in Colab" badge of ``notebook_path``."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_path)})"


def setup_cell_source() -> str:
    """The first code cell of every notebook: installs the course on Colab, does nothing elsewhere."""
    return (
        "# Set-up: on Google Colab this installs the course; locally it does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "{PIP_SPEC}"\n'
    )
