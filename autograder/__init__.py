"""Hidden and visible checks of every lab: `autograder/labNN.py` defines `checks`.

Run by `inferlab grade` and by nbgrader (through the same runner), and called
from the notebooks' test cells with `inferlab.grading.check_here`.
"""
