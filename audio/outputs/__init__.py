"""Stage 4 and 6: what a render delivers, one module per deliverable.

``tag`` and ``chapterfile`` write the MP3's ID3 tags and chapters,
``captions`` the WebVTT and SRT captions, ``wordtiming`` the word-by-word
timeline, ``feed`` the RSS feed, ``player`` and ``showpage`` the listener's
pages, and ``publish`` is the step that writes the sidecars beside a
finished MP3.  Every file is made under a temporary name and renamed into
place (``audio/files.py``).
"""
