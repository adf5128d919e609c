"""The per-tensor metrics modeldiff reports, computed the way a careful numpy script would:
both sides as float64, then L2, max/mean abs (with the argmax), cosine, RMSE, rel-L2 and
NaN/Inf counts. Shared by the two peer scripts of `cargo xtask bench`."""
import json
import numpy as np


def metrics(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    d = a - b
    ad = np.abs(d)
    i = int(np.nanargmax(ad)) if ad.size else 0
    l2 = float(np.sqrt(np.dot(d, d)))
    na, nb = float(np.sqrt(np.dot(a, a))), float(np.sqrt(np.dot(b, b)))
    return {
        "l2": l2,
        "max_abs": float(ad[i]) if ad.size else 0.0,
        "max_abs_index": i,
        "mean_abs": float(ad.mean()) if ad.size else 0.0,
        "cosine": float(np.dot(a, b) / (na * nb)) if na and nb else None,
        "rmse": float(np.sqrt(np.mean(d * d))) if ad.size else 0.0,
        "rel_l2": l2 / na if na else None,
        "nan": int(np.isnan(a).sum() + np.isnan(b).sum()),
        "inf": int(np.isinf(a).sum() + np.isinf(b).sum()),
    }


def emit(rows):
    print(json.dumps(rows))
