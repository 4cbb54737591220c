"""MATLAB's automatic layer names."""
import warnings


def assign_names(layers, taken=()):
    """MATLAB's automatic names (``iDeduceNames`` + ``makeUniqueStrings``).

    A name the user gave is kept; an empty Name becomes the type's DefaultName. Deduced
    names shared by several layers, or clashing with a name already used (a user's name or
    one in ``taken``), get ``_1``, ``_2``, … on every member of the group, skipping used
    names. Names users duplicated are renamed the same way, with a warning, as in MATLAB.
    Returns the list of names; the layers themselves are not changed.
    """
    taken = set(taken)
    given = [layer.Name for layer in layers]
    counts = {}
    for name in given:
        if name:
            counts[name] = counts.get(name, 0) + 1
    duplicated = sorted(name for name, count in counts.items() if count > 1 or name in taken)
    if duplicated:
        warnings.warn(f"Layer names {duplicated} are used more than once; the layers were renamed "
                      f"with suffixes _1, _2, ... (MATLAB's Names:DuplicatedNames).", UserWarning, stacklevel=3)
    used = taken | {name for name in given if name and name not in duplicated}
    wanted = [name if name and name not in duplicated else (name or layer.DefaultName)
              for layer, name in zip(layers, given)]
    group_size = {}
    for name, original in zip(wanted, given):
        if not original or original in duplicated:
            group_size[name] = group_size.get(name, 0) + 1
    names, next_suffix = [], {}
    for name, original in zip(wanted, given):
        if original and original not in duplicated:
            names.append(name)
            continue
        if group_size[name] == 1 and name not in used:
            names.append(name)
            used.add(name)
            continue
        suffix = next_suffix.get(name, 1)
        while f"{name}_{suffix}" in used:
            suffix += 1
        next_suffix[name] = suffix + 1
        names.append(f"{name}_{suffix}")
        used.add(f"{name}_{suffix}")
    return names
