"""Other tools: Vensim export (``vensim``) and the cross-check against PySD on the exported model
(``crosscheck``)."""
