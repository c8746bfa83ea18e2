"""Data files shipped with the package (sample corpus, word lists, models) and their licences."""
