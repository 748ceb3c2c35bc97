"""Sampling defaults shared by the diffusion pipeline, the CLI, the listening study and the app.

A module of its own, free of heavy imports, so the app and the CLI can show these defaults
without loading diffusers at start-up.
"""

# Guidance 3 over 2 (results/generation_guidance3*.json against results/generation.json): an
# independent judge recognises the target in 93 vs 80 % of clips at 25 steps, FD and diversity
# about the same; enhancement moves the target probability further at every strength (0.20 vs
# 0.18 at 0.5) with the same distance to the source.
DEFAULT_GUIDANCE = 3.0

# Enhance toward another emotion redraws the clip from noise (strength 1), holding its spectral
# envelope and its level's course at every step (`emodiff.diffusion.envelope`): the words and
# pauses stay, tilt, pitch and mean level follow the target. On 36 held-out clips the target is
# recognised in 32 / 33 % of changes (two held-out judges) against 22 / 24 % by partial noising
# (results/enhancement_envelope_steps10.json, results/enhancement_prosody.json; README,
# "Enhancement"). Making a clip's own emotion clearer that way loses 11-17 points, so clarity
# keeps partial noising (0.5), which loses 3.
CONVERT_STRENGTH = 1.0
CLARIFY_STRENGTH = 0.5

# Enhance's solver steps: 10 change a clip's emotion as often as 25 (the same 12 clips' changes:
# 28 / 35 % against 27 / 33 %; all 36: results/enhancement_envelope_steps10.json), in under 3 s
# for a 3 s clip where 25 took 4 s (results/bench/diffusion.json). Clarity gains at neither
# (-8.3 / 0.0 points at 10, -2.8 / -2.8 at 25: results/enhancement_prosody_steps10.json, within
# noise of each other). Generation keeps 25: fewer were less accurate.
ENHANCE_STEPS = 10

# Enhance's one control: how hard the emotion is pushed (the guidance scale). Medium is the
# measured default; strong reaches the target in 5 points more changes but keeps the voice less
# (similarity to the source 0.65 where two real clips of the speaker give 0.68, medium 0.68:
# results/enhancement_envelope_steps10_g5.json).
INTENSITY = {"subtle": 1.5, "medium": DEFAULT_GUIDANCE, "strong": 5.0}
DEFAULT_INTENSITY = "medium"
