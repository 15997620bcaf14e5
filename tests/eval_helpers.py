"""Helpers shared by the evaluation tests."""
from offside_data.chat import load_image, user_message
from offside_eval.requests import LoglikelihoodRequest


def mc_requests(items, root):
    """One request per option of each MC item, the item's image (if any) loaded as training does."""
    reqs = []
    for it in items:
        visuals = [load_image(str(root), it.image)] if it.image else []
        for option in it.options.values():
            reqs.append(LoglikelihoodRequest([user_message(it.question, bool(visuals))], visuals, option, group=it.id))
    return reqs
