"""Stage 3e: the music layer, played around and under the speech like a produced show.

``settings`` reads the ``[sound]`` table (intro, outro, bed, stingers, cues,
ducking) as data; ``music`` decodes its files to the speech's rate;
``plan`` places each sound on the render's timeline, first the room it
takes before speech and then, once speech is assembled, where it plays;
``duck`` is the bed's gain envelope from the sentence timings; ``mix`` is
the layer mastering mixes under each turn (``audio.master.SoundLayer``),
and the speech stem verify compares with; ``check`` is stage 5 with
music: WER with and without it, and speech over the bed.  With no
``[sound]`` none of this is imported, and the render is as before.
"""
