from . import l10n_efact_aoc_wizards
