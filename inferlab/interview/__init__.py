"""`inferlab interview`: a timed, seeded, role-specific mock interview (syllabus §10).

    inferlab interview new --candidate alice --track rd [--level new-grad] [--minutes 90] [--seed N] [--practice]
    inferlab interview grade alice submitted/alice/lab10/lab10.ipynb
    inferlab interview guide alice
    inferlab interview report alice            # from nbgrader's gradebook, hand grades included

One concept per module: `keys` (the instructor's secret and records), `sections`
(outline, timings, tracks, §9 bands), `answers` (the formulas), `bank`
(quantitative questions), `written`, `coding` (the coding task from a lab),
`generate` (plan and notebook), `grade` (checks and front door), `clock`
(section starts), `gradebook` (nbgrader), `report`, `guide`, `cli`.
"""
