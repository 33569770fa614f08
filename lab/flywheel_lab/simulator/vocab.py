"""The simulator's lexicon: looks (heads) and modifiers, each with interpretable attributes and synonyms.

A base intent is a head, or a modifier + head ("soft golden hour"). Its attributes are the sum of its parts; the
latent ideal tool outputs are derived from those attributes (see :mod:`flywheel_lab.simulator.world`), so every
paraphrase of a base shares one hidden answer.

Attribute keys (all optional, default 0):
  warm (-1 cool .. 1 warm), bright (-1 dark .. 1 bright), vivid (-1 muted .. 1 vivid), contrast (-1 soft .. 1 punchy),
  vintage (0..1), fade (0..1, lifted blacks), mono (0..1), glow (0..1, bloom), crisp (0..1, sharpen/structure),
  tint (-1 green .. 1 magenta), hue (-1 .. 1).
``colors`` maps a colour of selective_adjust to (saturation, luminance) emphasis in -1..1; a look with colours is one
whose ideal uses selective_adjust.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Concept:
    key: str
    synonyms: tuple[str, ...]  # first = canonical wording
    attrs: dict[str, float]
    colors: dict[str, tuple[float, float]] = field(default_factory=dict)


def _c(key: str, syn: str, colors: dict[str, tuple[float, float]] | None = None, **attrs: float) -> Concept:
    return Concept(key, tuple(s.strip() for s in syn.split("|")), attrs, colors or {})


HEADS: tuple[Concept, ...] = (
    _c("golden_hour", "golden hour|golden light|magic hour|sunset glow", warm=.8, bright=.3, vivid=.3, glow=.3,
       colors={"orange": (.5, .3), "yellow": (.6, .4), "red": (.3, .2), "blue": (-.3, 0)}),
    _c("cool_morning", "cool morning|chilly morning|crisp dawn|fresh morning", warm=-.6, bright=.4, vivid=-.1),
    _c("sunset", "sunset|sundown|dusk sky|evening sun", warm=.7, bright=-.1, vivid=.5, contrast=.2,
       colors={"red": (.5, .1), "orange": (.7, .2), "yellow": (.4, .1), "blue": (.2, -.2)}),
    _c("blue_hour", "blue hour|twilight|after dusk|nightfall blue", warm=-.7, bright=-.4, vivid=.2,
       colors={"blue": (.6, -.1), "cyan": (.4, 0)}),
    _c("vintage_film", "vintage film|old film|retro film|analog film", vintage=.9, fade=.6, vivid=-.3, warm=.3),
    _c("film_noir", "film noir|noir|black and white drama|noir cinema", mono=1, contrast=.8, bright=-.4),
    _c("black_white", "black and white|monochrome|grayscale|b&w", mono=1, contrast=.3),
    _c("summer_day", "summer day|sunny day|bright summer|midsummer", bright=.6, vivid=.6, warm=.4,
       colors={"blue": (.4, 0), "green": (.3, .1), "yellow": (.3, .2)}),
    _c("winter", "winter|snowy day|frosty|icy winter", warm=-.7, bright=.5, vivid=-.4, tint=-.1),
    _c("autumn", "autumn|fall colors|autumn leaves|fall foliage", warm=.6, vivid=.4,
       colors={"orange": (.7, .1), "red": (.4, 0), "yellow": (.5, .1), "green": (-.4, -.1)}),
    _c("spring", "spring|springtime|blooming spring|spring bloom", bright=.4, vivid=.5, warm=.1,
       colors={"green": (.5, .2), "yellow": (.3, .2), "red": (.2, .1)}),
    _c("moody", "moody|dark mood|brooding|gloomy", bright=-.6, contrast=.5, vivid=-.3, warm=-.2),
    _c("dreamy", "dreamy|dreamlike|soft dream|ethereal", glow=.8, contrast=-.5, bright=.4, vivid=-.1, tint=.2),
    _c("cinematic", "cinematic|movie look|film look|hollywood", contrast=.5, vivid=-.1, fade=.3,
       colors={"orange": (.4, .1), "cyan": (.5, -.1), "blue": (.3, -.1)}),
    _c("teal_orange", "teal and orange|orange and teal|blockbuster teal|teal orange grade", contrast=.4,
       colors={"orange": (.8, .2), "cyan": (.8, -.1), "blue": (.5, -.2), "green": (-.4, 0)}),
    _c("neon_night", "neon night|neon lights|cyberpunk|neon city", bright=-.3, vivid=.9, contrast=.6, tint=.3,
       hue=.2, colors={"blue": (.6, .1), "cyan": (.6, .2), "red": (.5, .1)}),
    _c("pastel", "pastel|pastel colors|soft pastel|candy pastel", bright=.5, vivid=-.4, contrast=-.5, fade=.4, tint=.1),
    _c("vibrant", "vibrant|vivid colors|colorful|saturated", vivid=1, contrast=.3),
    _c("faded", "faded|washed out|matte look|faded matte", fade=.9, vivid=-.5, contrast=-.4),
    _c("warm_tone", "warm tone|warm colors|warmth|warm glow", warm=.8, glow=.2),
    _c("cool_tone", "cool tone|cool colors|cold tones|icy tones", warm=-.8),
    _c("beach", "beach|seaside|tropical beach|ocean shore", bright=.5, vivid=.5, warm=.2,
       colors={"blue": (.6, .1), "cyan": (.6, .2), "yellow": (.2, .2)}),
    _c("forest", "forest|woods|deep forest|woodland", bright=-.2, vivid=.3,
       colors={"green": (.7, -.1), "yellow": (.2, 0)}),
    _c("city_night", "city night|night city|urban night|nighttime streets", bright=-.5, contrast=.5, warm=-.2,
       colors={"orange": (.3, .2), "blue": (.4, -.2)}),
    _c("rainy_day", "rainy day|rain|overcast|rainy weather", bright=-.3, vivid=-.5, warm=-.4, contrast=-.2),
    _c("portrait", "portrait|skin tones|flattering portrait|natural skin", warm=.2, contrast=-.1, glow=.2,
       colors={"orange": (-.1, .4), "red": (-.2, .2)}),
    _c("polaroid", "polaroid|instant photo|instant film|old polaroid", vintage=.8, fade=.7, warm=.3, tint=.2),
    _c("sepia", "sepia|sepia tone|old photo|antique", vintage=1, mono=.6, warm=.6, fade=.3),
    _c("high_contrast", "high contrast|punchy|bold contrast|contrasty", contrast=1, vivid=.2),
    _c("soft_light", "soft light|gentle light|soft and airy|airy", contrast=-.6, bright=.5, glow=.3),
    _c("bright_airy", "bright and airy|light and bright|clean bright|bright white", bright=.9, contrast=-.3, warm=-.1),
    _c("dark_dramatic", "dark and dramatic|dramatic|epic dark|stormy", bright=-.7, contrast=.8, crisp=.5),
    _c("crisp_detail", "crisp details|sharp|crisp|detailed", crisp=.9, contrast=.3),
    _c("hazy", "hazy|foggy|misty|haze", contrast=-.7, fade=.5, bright=.2, glow=.3),
    _c("desert", "desert|sand dunes|arid desert|dusty desert", warm=.7, bright=.4, vivid=-.1,
       colors={"orange": (.5, .2), "yellow": (.4, .2), "blue": (-.2, 0)}),
    _c("underwater", "underwater|deep sea|aquatic|under the sea", warm=-.8, tint=-.3,
       colors={"blue": (.7, 0), "cyan": (.7, .1), "red": (-.4, -.2)}),
    _c("candlelight", "candlelight|candle light|cozy candles|firelight", warm=.9, bright=-.4, glow=.6,
       colors={"orange": (.5, .3), "yellow": (.3, .2)}),
    _c("retro_80s", "80s retro|eighties|synthwave|retro 80s", vintage=.6, vivid=.7, tint=.4, hue=.3,
       colors={"red": (.4, 0), "blue": (.4, 0)}),
    _c("lofi", "lo-fi|lofi|grainy lo-fi|lo fi", vintage=.5, fade=.6, vivid=-.3, contrast=-.2),
    _c("tropical", "tropical|jungle|tropical paradise|exotic", vivid=.8, warm=.3,
       colors={"green": (.6, 0), "cyan": (.4, .1), "yellow": (.3, .1)}),
    _c("nordic", "nordic|scandinavian|nordic light|minimal nordic", warm=-.4, vivid=-.5, bright=.3, fade=.2),
    _c("sunrise", "sunrise|daybreak|early sunrise|first light", warm=.5, bright=.2, glow=.4,
       colors={"orange": (.4, .3), "red": (.2, .1), "blue": (.2, .1)}),
    _c("matte_black", "matte black|crushed blacks|dark matte|inky", bright=-.5, fade=.5, contrast=-.2, vivid=-.2),
    _c("vivid_food", "food|delicious food|tasty food|food photo", vivid=.6, warm=.3, crisp=.4,
       colors={"red": (.4, .1), "orange": (.3, .1), "green": (.3, .1)}),
    _c("glow_up", "glowing|glow|radiant|luminous", glow=.9, bright=.3),
)

MODIFIERS: tuple[Concept, ...] = (
    _c("soft", "soft|gentle|subtle", contrast=-.4, glow=.1),
    _c("warm", "warm|warmer|cozy", warm=.6),
    _c("cool", "cool|cooler|chilly", warm=-.6),
    _c("bright", "bright|brighter|sunny", bright=.6),
    _c("dark", "dark|darker|dim", bright=-.6),
    _c("vivid", "vivid|vibrant|punchy", vivid=.7),
    _c("muted", "muted|desaturated|subdued", vivid=-.7),
    _c("vintage", "vintage|retro|old school", vintage=.8, fade=.3),
    _c("faded", "faded|washed|dusty", fade=.7, vivid=-.3),
    _c("dramatic", "dramatic|intense|bold", contrast=.7),
    _c("dreamy", "dreamy|hazy|ethereal", glow=.6, contrast=-.3),
    _c("moody", "moody|gloomy|somber", bright=-.4, contrast=.3, vivid=-.3),
    _c("crisp", "crisp|sharp|clear", crisp=.7),
    _c("golden", "golden|honey|amber", warm=.7, colors={"yellow": (.4, .2), "orange": (.3, .1)}),
    _c("pink", "pink|rosy|blush", tint=.6, colors={"red": (.3, .2)}),
    _c("green", "green|emerald|leafy", tint=-.4, colors={"green": (.6, .1)}),
    _c("blue", "blue|azure|deep blue", warm=-.4, colors={"blue": (.6, 0), "cyan": (.3, 0)}),
    _c("cinematic", "cinematic|filmic|movie-like", contrast=.4, fade=.2),
    _c("minimal", "minimal|clean|simple", vivid=-.2, contrast=-.1),
    _c("nostalgic", "nostalgic|memories|throwback", vintage=.7, warm=.3, fade=.3),
)

# Wrappers that keep the meaning: how people phrase the same request in the app.
TEMPLATES: tuple[str, ...] = (
    "{x}", "{x} look", "make it {x}", "{x} vibe", "{x} vibes", "{x} style", "give it a {x} feel", "{x} please",
    "i want {x}", "{x} mood", "{x} aesthetic", "{x} edit", "{x} effect", "something {x}", "go for {x}",
    "add {x}", "{x} tones", "{x} colors", "apply {x}", "{x} feel", "turn it {x}", "{x} grade", "{x} color grade",
    "like a {x}", "{x} atmosphere", "more {x}", "a {x} look", "i'd like {x}", "{x} filter", "{x} photo",
)

# How a modifier and a look combine into one request ("soft golden hour", "golden hour but soft"), in this order.
CORE_FORMS: tuple[str, ...] = ("{m} {h}", "{h}, {m}", "{h} but {m}", "{h} with a {m} touch", "{m} and {h}")

# Words added to the latent attributes' tags when deriving the filter; mirrors filters.json tags.
FILTER_TAGS: tuple[str, ...] = ("warm", "cool", "bright", "dark", "vivid", "muted", "vintage", "contrast", "faded",
                                "mono")

# Held-out wordings: how people also say a look or a modifier, in ordinary English words that appear nowhere above
# (no synonym, template or core joiner, nor a one-letter typo of one) and in no other concept's held-out wording, so
# a student trained on the collected traffic has never seen them and they stay unambiguous. Collection never emits
# them; the world maps them to their base (flywheel_lab.simulator.heldout). Only the referee reads these lists.
HELD_OUT_HEADS: dict[str, tuple[str, ...]] = {
    "golden_hour": ("late afternoon", "sunkissed", "backlit"),
    "cool_morning": ("brisk", "nippy"),
    "sunset": ("afterglow", "eventide"),
    "blue_hour": ("gloaming", "crepuscular"),
    "vintage_film": ("kodachrome", "celluloid", "super 8"),
    "film_noir": ("chiaroscuro", "hardboiled", "gangster flick"),
    "black_white": ("achromatic", "silver gelatin", "colourless"),
    "summer_day": ("heatwave", "scorcher", "hot july"),
    "winter": ("blizzard", "hoarfrost", "freezing december"),
    "autumn": ("harvest season", "october", "pumpkin patch"),
    "spring": ("cherry blossoms", "april showers", "vernal"),
    "moody": ("melancholic", "sullen", "downcast"),
    "dreamy": ("otherworldly", "reverie", "fairytale"),
    "cinematic": ("widescreen", "anamorphic", "motion picture"),
    "teal_orange": ("turquoise tangerine", "michael bay"),
    "neon_night": ("fluorescent", "blade runner", "arcade"),
    "pastel": ("macaron", "sherbet", "powdery hues"),
    "vibrant": ("technicolor", "eye-popping", "kaleidoscopic"),
    "faded": ("bleached", "timeworn"),
    "warm_tone": ("toasty", "caramel"),
    "cool_tone": ("steely", "glacial"),
    "beach": ("coastline", "boardwalk", "surfside"),
    "forest": ("pine grove", "redwoods", "treeline"),
    "city_night": ("metropolis", "downtown midnight", "skyscrapers"),
    "rainy_day": ("drizzle", "downpour", "wet pavement"),
    "portrait": ("headshot", "complexion", "selfie"),
    "polaroid": ("instax", "instamatic"),
    "sepia": ("daguerreotype", "tintype", "victorian"),
    "high_contrast": ("stark", "harsh shadows", "crunchy"),
    "soft_light": ("diffused", "feathery", "tender illumination"),
    "bright_airy": ("breezy", "whitewashed", "sunlit loft"),
    "dark_dramatic": ("ominous", "thunderous", "foreboding"),
    "crisp_detail": ("pinpoint clarity", "ultra hd", "4k"),
    "hazy": ("smoggy", "vaporous"),
    "desert": ("sahara", "badlands", "mojave"),
    "underwater": ("submarine", "scuba", "coral reef"),
    "candlelight": ("lantern", "hearth", "bonfire"),
    "retro_80s": ("vhs", "miami vice", "outrun"),
    "lofi": ("chillhop", "cassette tape"),
    "tropical": ("hawaiian", "caribbean", "palm trees"),
    "nordic": ("fjord", "icelandic", "lagom"),
    "sunrise": ("sunup", "cockcrow"),
    "matte_black": ("charcoal", "obsidian", "onyx"),
    "vivid_food": ("cuisine", "brunch", "plated dish"),
    "glow_up": ("incandescent", "shimmering", "lustrous"),
}
HELD_OUT_MODIFIERS: dict[str, tuple[str, ...]] = {
    "soft": ("mellow", "velvety"),
    "warm": ("balmy", "snug"),
    "cool": ("wintry", "icier"),
    "bright": ("lighter", "brilliant"),
    "dark": ("shadowy", "murky"),
    "vivid": ("juicy", "rich"),
    "muted": ("understated", "toned down", "restrained"),
    "vintage": ("bygone", "antiquated", "yesteryear"),
    "faded": ("weathered", "worn"),
    "dramatic": ("theatrical", "striking"),
    "dreamy": ("floaty", "surreal"),
    "moody": ("pensive", "bleak"),
    "crisp": ("defined", "precise"),
    "golden": ("gilded", "buttery"),
    "pink": ("fuchsia", "salmon", "magenta"),
    "green": ("verdant", "mossy", "olive"),
    "blue": ("cobalt", "navy", "sapphire"),
    "cinematic": ("big-screen", "auteur"),
    "minimal": ("sparse", "uncluttered", "bare bones"),
    "nostalgic": ("wistful", "reminiscent", "sentimental"),
}
# Wrappers whose extra words carry no meaning for the look, also absent from every wording above.
NEW_TEMPLATES: tuple[str, ...] = (
    "{x} in tokyo", "{x} on my puppy pics", "can you do {x}", "{x} on this pic", "{x} pls", "{x} thx",
    "need {x} asap", "{x} on insta", "{x} on wedding shots", "{x} from paris", "hey {x}", "{x} kinda", "try {x}",
    "{x} lol", "{x} on my cat", "so {x}",
)
