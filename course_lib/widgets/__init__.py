"""Live explorers (ipywidgets 8) used by the lectures; each builds on course_lib and plotting."""
