"""The coherence score of a multi-scene video, one job per module.

* ``frames`` - decoding clips to analysis frames; ``CoherenceError``;
* ``cuts`` - frame-pair motion, motion-compensated similarity, cut verdicts (boundaries and
  inside scenes);
* ``stability`` - flicker and temporal noise inside a scene;
* ``style`` - colour and texture statistics and the pairwise style similarity;
* ``score`` - the report dataclasses, ``score_clips`` / ``score_video`` / ``score_frames``;
* ``colour`` - colour transfer between clips (Reinhard in CIELAB);
* ``drawing`` - the report's picture (PNG / SVG) and text table.

Callers import from the module that does the job (``from pipeline.coherence.score import
score_clips``). docs/coherence-score.md explains every constant.
"""
